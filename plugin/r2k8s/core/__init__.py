"""The timeless core: ware IDs and tar wares, formulas and their IDs, warehouses, running formulas, the pod agents.

Everything under this package imports only the Python standard library,
because it ships as a zipapp into stock Python images and runs there as the
in-pod agent. It is layered; a module may import only from its own layer
and the layers above it in this list (``tests/test_layers.py`` enforces it;
the README's layout section lists every module):

1. the leaves at the top of this package: :mod:`errors`, :mod:`goparse`
   (Go-compatible parsing), :mod:`cbor`, :mod:`base58`, :mod:`scratch`
   (scratch directories a crashed owner cannot leak), :mod:`aliases`
   (shared type aliases) and :mod:`jsonpath` (paths into decoded documents);
2. :mod:`ware`: ware IDs, file metadata, filters, the tree hash, tar
   reading and writing, tree walking, scan, pack and unpack;
3. :mod:`formula` and :mod:`warehouse`, side by side (neither imports the
   other): formulas, their parsing, documents, defaults and IDs; warehouse
   URLs, fetching with rio's fallback, saving and the ware cache;
4. :mod:`run`: running a formula as ``repeatr run`` does (the job pipeline,
   host checks, assembly, cradle, executors, run records);
5. :mod:`agent`: what runs in pods, both agents and the contract their
   clients share.
"""

__all__: list[str] = []
