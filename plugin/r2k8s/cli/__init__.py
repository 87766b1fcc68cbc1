"""The ``r2k8s`` command line: :func:`main` is the console script.

One module per command group: :mod:`formulas` (``formula-id``), :mod:`wares`
(``scan``, ``pack``, ``unpack``), :mod:`run` (``run``), :mod:`fn` (the KRM
function); :mod:`console` holds what they share, :mod:`app` the parser and the entry point.
"""

from r2k8s.cli.app import main

__all__ = ["main"]
