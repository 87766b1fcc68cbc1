"""``r2k8s emerge``: timeless modules (``module.tl``, as reach reads them) evaluated as a graph of formulas.

:mod:`.parse` reads and checks a module (:mod:`.model` its parts,
:mod:`.catalog` its ``catalog:`` imports, :mod:`.workspace` where its
catalog, warehouse and memo live); :mod:`.formulas` turns a step whose inputs
are known into a formula; :mod:`.evaluate` runs the graph, each step as an
``r2k8s run`` child process (:mod:`.stepproc`), memoized by setup hash, and
says what happens through :mod:`.report` (ANSI lines, or ``--format json``
events). Kept light: the child entry imports this package before anything else.
"""

__all__: list[str] = []
