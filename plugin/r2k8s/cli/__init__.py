"""The ``r2k8s`` command line: :func:`main` is the console script.

One module per command group: :mod:`formulas` (``formula-id``, ``formula-resource``), :mod:`wares`
(``scan``, ``pack``, ``unpack``), :mod:`run` (``run``), :mod:`fn` (the KRM
function); :mod:`console` holds what they share, :mod:`app` the parser and the
dispatch. This module only answers the commonest call of all before importing
any of them: kustomize, kpt and helm start the function for every build, most
often on an input it returns unchanged (:mod:`r2k8s.krm.quick`).

The function's input is read as bytes and decoded as UTF-8 here, whatever the
locale says: text mode would turn ``\\r\\n`` into ``\\n`` (the answer would not
be the input any more) and, depending on the locale, either fail on a byte that
is not UTF-8 before any message could name it or smuggle it in as a surrogate
that crashes libyaml. Bytes that do not decode are handed on as they are, for
:func:`r2k8s.cli.fn.cmd_fn` to say where they go wrong.
"""

from __future__ import annotations

import io
import os
import sys
from collections import abc

__all__ = ["main", "write_stdout"]


def main(argv: abc.Sequence[str] | None = None) -> int:
    """Run ``r2k8s`` with ``argv`` (default: the process's arguments); return the exit status.

    SIGTERM and SIGHUP stop any command as Ctrl-C does (:mod:`.stopping`) from the first instruction on: the
    function may be stopped while it still waits for its input, and says so (exit 8) rather than dying silently.
    """
    from r2k8s.cli.stopping import StopRequested, stop_on_signals

    stop_on_signals()
    try:
        return _main(argv)
    except StopRequested as stop:  # stopped outside a command (a command reports its own stop)
        from r2k8s.core.errors import Category

        print(
            f"r2k8s: error: {Category.CANCELLED.wire_name}: cancelled: received {stop.signal_name}",
            file=sys.stderr,
            flush=True,
        )
        return Category.CANCELLED.exit_code


def _main(argv: abc.Sequence[str] | None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    function_call = words == ["fn"] or (argv is None and not words)
    if function_call and not sys.stdin.isatty() and not os.environ.get("R2K8S_EXPLAIN"):
        from r2k8s.krm.quick import unchanged

        try:
            data: bytes | None = sys.stdin.buffer.read()
        except (OSError, ValueError, AttributeError):
            data = None  # the function proper reports it, as it always has
        if data is not None:
            try:
                text: str | None = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None  # the function proper says which byte
            if text is not None and unchanged(text):
                try:
                    write_stdout(text)
                except BrokenPipeError:
                    return 1
                return 0
            # read once: the function proper reads the same bytes from here
            sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    from r2k8s.cli.app import main as run

    return run(argv)


def write_stdout(text: str) -> None:
    """Write the function's answer as UTF-8 bytes, as the input was read: exactly, whatever the locale."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream put in place of stdout (tests)
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    sys.stdout.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()
