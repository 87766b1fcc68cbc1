"""The ``r2k8s`` command line: one parser, one module per command group, repeatr's exit codes.

Every command prints its result (an ID) alone on stdout and everything else on
stderr, and exits with repeatr/rio's code for the failure category (see
``r2k8s.core.errors``): 0 success, 1 usage or bad input, 2 internal error,
3 warehouse unavailable, 4 warehouse unwritable, 5 ware not found, 6 ware
corrupt, 7 hash mismatch, 11 pack invalid, 12 inoperable path, 13 filter
rejection. Heavy imports happen inside the commands so that start-up stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from r2k8s import __version__
from r2k8s.cli import fn
from r2k8s.cli.console import Parser, Subparsers, log
from r2k8s.cli.stopping import StopRequested, stop_on_signals
from r2k8s.core.errors import Category, R2k8sError

__all__ = ["build_parser", "main"]

EXIT_CODES_HELP = """exit codes (shared with repeatr and rio):
  0 success                 1 usage error or invalid input   2 internal error
  3 warehouse unavailable   4 warehouse unwritable           5 ware not found
  6 ware corrupt            7 hash mismatch                  8 cancelled
  9 ware cache problem      10 assembly invalid              11 pack invalid
  12 inoperable path        13 filter rejection              40 job invalid
  32 job unsuccessful (emerge: a step's action exited non-zero)
  41 local cache problem    42 executor failed
'run' exits 0 when the formula ran, whatever the action's own exit code (see the run record).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="r2k8s",
        description="Run Repeatr formulas on Kubernetes; compute formula and ware IDs exactly as repeatr and rio do.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"r2k8s {__version__}")
    sub: Subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    from r2k8s.cli import cache, check, emerge, formulas, inspect, mirror, resolve, run, wares

    formulas.add_parsers(sub)
    wares.add_parsers(sub)
    run.add_parsers(sub)
    emerge.add_parsers(sub)
    fn.add_parsers(sub)
    cache.add_parsers(sub)
    check.add_parsers(sub)
    resolve.add_parsers(sub)
    inspect.add_parsers(sub)
    mirror.add_parsers(sub)
    return parser


def _command_names() -> set[str]:
    """The subcommands' names: a file named like one is never resolved in its place."""
    return {
        name
        for action in build_parser()._actions  # argparse keeps its subcommands there, with no public accessor
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 1 and not sys.stdin.isatty():
        argv = ["fn"]  # kustomize, kpt and helm run the function with stdin piped and no arguments
    words = fn.function_words(list(sys.argv[1:] if argv is None else argv))
    if words[:1] == ["fn"]:  # the function's start-up counts: skip building every other subcommand's parser
        args = fn.parse_function_arguments(words[1:])
    else:
        from r2k8s.cli.resolve import as_filenames, names_manifests

        if words and names_manifests(words[0]) and words[0] not in _command_names():
            argv = words = ["resolve", *words]  # the seed's usage: r2k8s FILE… is r2k8s resolve -f FILE…
        if words[:1] == ["resolve"]:
            argv = words = ["resolve", *as_filenames(words[1:])]
        args = build_parser().parse_args(argv)
        if getattr(args, "run", None) is None:
            build_parser().print_help(sys.stderr)
            return Category.USAGE.exit_code
    run: Callable[[argparse.Namespace], str | None] = args.run
    stop_on_signals()  # ``run`` replaces these with its own, which stop the action first
    try:
        result = run(args)
    except R2k8sError as exc:
        log(f"error: {exc.category.wire_name}: {exc.message}")
        return exc.category.exit_code
    except StopRequested as stop:
        log(f"error: {Category.CANCELLED.wire_name}: cancelled: received {stop.signal_name}")
        return Category.CANCELLED.exit_code
    except KeyboardInterrupt:
        log("error: interrupted")
        return Category.CANCELLED.exit_code
    except BrokenPipeError:
        return Category.USAGE.exit_code
    except Exception as exc:
        if os.environ.get("R2K8S_DEBUG"):
            raise
        log(f"error: internal error ({type(exc).__name__}: {exc}); set R2K8S_DEBUG=1 for a traceback")
        return Category.PANIC.exit_code
    if result is not None:
        print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
