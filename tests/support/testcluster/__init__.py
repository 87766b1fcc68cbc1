"""A real single-node Kubernetes cluster for the tests, built on this machine from parts.

``tests/support/testcluster/up`` starts (or reuses) it and prints its admin kubeconfig's path,
``tests/support/testcluster/down`` stops it and removes what it left; ``tests/support/cluster_fixture.py`` is the
pytest plugin that gives tests a running cluster. See README.md ("The test cluster").
"""
