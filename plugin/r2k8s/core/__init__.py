"""The timeless core: formulas, ware IDs, tar wares, warehouses.

Everything under this package imports only the Python standard library (a test
enforces it), because it is shipped as a zipapp into stock Python images and
runs there as the in-pod agent.
"""
