"""Git wares (``git:<commit>``) without a git binary: objects, packs, object directories and checkout.

The *format* half of rio's git transmat: what a commit's tree is and how it is
placed. Fetching (smart HTTP, the per-URL object cache, local repositories
as warehouses) is :mod:`r2k8s.core.warehouse.git`, built on this. Part of the
``ware`` layer: it imports only the core's leaves and :mod:`r2k8s.core.ware`.
"""
