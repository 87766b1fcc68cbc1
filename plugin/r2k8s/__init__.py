"""r2k8s: run Repeatr formulas on Kubernetes.

The subpackage :mod:`r2k8s.core` is the timeless core (formulas, IDs, tar wares,
warehouses). It imports only the standard library so it can run inside a stock
Python image in a pod; everything else in this package may use third-party
dependencies.
"""

__version__ = "0.1.0"
