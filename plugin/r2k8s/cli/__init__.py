"""The ``r2k8s`` command line: :func:`main` is the console script.

One module per command group: :mod:`formulas` (``formula-id``), :mod:`wares`
(``scan``, ``pack``, ``unpack``), :mod:`run` (``run``), :mod:`fn` (the KRM
function); :mod:`console` holds what they share, :mod:`app` the parser and the
dispatch. This module only answers the commonest call of all before importing
any of them: kustomize, kpt and helm start the function for every build, most
often on an input it returns unchanged (:mod:`r2k8s.krm.quick`).
"""

from __future__ import annotations

import io
import os
import sys
from collections import abc

__all__ = ["main"]


def main(argv: abc.Sequence[str] | None = None) -> int:
    """Run ``r2k8s`` with ``argv`` (default: the process's arguments); return the exit status."""
    words = sys.argv[1:] if argv is None else list(argv)
    function_call = words == ["fn"] or (argv is None and not words)
    if function_call and not sys.stdin.isatty() and not os.environ.get("R2K8S_EXPLAIN"):
        from r2k8s.krm.quick import unchanged

        try:
            text = sys.stdin.read()
        except (OSError, ValueError):
            text = None  # the function proper reports it, as it always has
        if text is not None:
            if unchanged(text):
                try:
                    sys.stdout.write(text)
                    sys.stdout.flush()
                except BrokenPipeError:
                    return 1
                return 0
            sys.stdin = io.StringIO(text)  # read once: the function proper reads it from here
    from r2k8s.cli.app import main as run

    return run(argv)
