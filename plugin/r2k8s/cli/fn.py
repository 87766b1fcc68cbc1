"""``r2k8s fn``: the KRM function for kustomize, kpt and helm (also ``r2k8s`` with stdin piped and no arguments,
or with the function's options first, where helm 3 puts ``--post-renderer-args``: ``r2k8s --config FILE``).

Start-up counts here (orchestrators run the function once per build), so
this module imports only the standard library and :mod:`r2k8s.krm.quick`
until there is a formula to expand.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from r2k8s.cli.console import Parser, Subparsers, log
from r2k8s.core.errors import Category, R2k8sError

__all__ = [
    "FUNCTION_OPTIONS",
    "PARSER",
    "TOP_LEVEL_OPTIONS",
    "add_arguments",
    "add_parsers",
    "cmd_fn",
    "function_words",
    "parse_function_arguments",
    "standalone_parser",
]


def add_parsers(sub: Subparsers) -> None:
    add_arguments(sub.add_parser("fn", help=PARSER["help"], description=PARSER["description"]))


def standalone_parser() -> argparse.ArgumentParser:
    """The parser of ``r2k8s fn`` alone, without building every other command's."""
    return add_arguments(Parser(prog="r2k8s fn", description=PARSER["description"]))


PARSER = {
    "help": "the KRM function: ResourceList (or a plain YAML stream, for helm) on stdin, rewritten on stdout",
    "description": "Expand every container whose image is ./path.formula or formula:NAME into a pod that fetches,"
    " verifies and runs the formula. 'r2k8s' with stdin piped and no arguments does the same, as do"
    " 'r2k8s --config FILE' and 'r2k8s --explain' (helm 3 puts --post-renderer-args after the program).",
}


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--explain", action="store_true", help="print the JSON-patch operations per resource instead")
    p.add_argument(
        "--config", metavar="FILE", help="function config file (overrides the ResourceList's functionConfig)"
    )
    p.set_defaults(run=cmd_fn)
    return p


FUNCTION_OPTIONS = ("--config", "--explain")
"""The function's own options, also taken as ``r2k8s``'s first word: helm 3 runs its post-renderer with
``--post-renderer-args`` after the program (``r2k8s --config FILE``); helm 4's plugin runs ``r2k8s fn ARGS``."""

TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")
"""The options of ``r2k8s`` itself: any other leading option can only be meant for the function."""


def function_words(words: list[str]) -> list[str]:
    """``words`` with ``fn`` put in front when they begin with an option that is not ``r2k8s``'s own
    (``--config FILE``, ``--config=FILE``, ``--explain``, or a mistyped one, which the function's parser
    then names, listing :data:`FUNCTION_OPTIONS`)."""
    first = words[0] if words else ""
    if first.startswith("-") and first.partition("=")[0] not in TOP_LEVEL_OPTIONS:
        return ["fn", *words]
    return words


def parse_function_arguments(words: list[str]) -> argparse.Namespace:
    """The options of ``r2k8s fn``; anything else is a usage error (exit 1) naming it and the accepted options,
    never ignored: a mistyped ``--post-renderer-args`` must not render without the config it meant to give."""
    parser = standalone_parser()
    args, unknown = parser.parse_known_args(words)
    if unknown:
        from r2k8s.cli.resolve import names_manifests

        files = [word for word in unknown if names_manifests(word)]
        parser.error(
            f"unrecognized arguments: {' '.join(unknown)} (the function accepts --config FILE and --explain;"
            " helm passes them with --post-renderer-args)"
            + (
                f". 'r2k8s fn' is the KRM function: it reads manifests on stdin and takes no files (given"
                f" {', '.join(files)}); to expand files run 'r2k8s resolve -f FILE' or 'r2k8s FILE', or pipe them:"
                " 'r2k8s fn < FILE'"
                if files
                else ""
            )
        )
    return args


def cmd_fn(args: argparse.Namespace) -> None:
    from r2k8s.cli import write_stdout
    from r2k8s.krm.quick import unchanged

    text = _read_stdin()
    if not (args.explain or args.config or os.environ.get("R2K8S_EXPLAIN")) and unchanged(text):
        write_stdout(text)  # nothing to expand: the input is the answer (and start-up stays short)
        return
    with _collector_paused():  # from the imports on: their objects too live to the end
        from r2k8s.krm.function import run
        from r2k8s.krm.results import Results, Severity

        config = _config_document(args.config) if args.config else None
        outcome = run(text, explain=args.explain, config_override=config)
    # infos (the summary of what changed) are for kpt, which shows a ResourceList's results: kustomize passes
    # an exec function's stderr on, and would print them on every build
    for line in Results(r for r in outcome.results if r.severity is not Severity.INFO).stderr_lines():
        log(line)
    if outcome.output:
        write_stdout(outcome.output)
    if outcome.exit_code:
        raise SystemExit(outcome.exit_code)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while the function runs, as it was after.

    Nearly everything the function makes (the input's data, the plan, the text patcher's models) is either kept
    to the end or freed by reference counting (none of it holds cycles), yet the collector scanned it over and
    over as it was made: 234 collections, 40 ms of a 0.7 s run on 2,000 resources. What cycles remain (closures,
    a few thousand objects, about 1 MiB there) live as long as the process, which exits after one run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_stdin() -> str:
    """stdin as text: its bytes decoded as UTF-8 with the line endings as given (``\\r\\n`` stays), or an error
    naming the first byte that is not UTF-8 (the locale's decoder would crash, or let it through as a surrogate)."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a text-only stream put in place of stdin (tests)
        return str(sys.stdin.read())
    return _decoded(buffer.read(), "stdin")


def _decoded(data: bytes, what: str) -> str:
    """``data`` as UTF-8 text, or a usage error naming the first byte that is not (a binary file, Latin-1)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise R2k8sError(
            Category.USAGE, f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def _config_document(name: str) -> object:
    """The one YAML document of the ``--config`` file; a binary file (not UTF-8, or with NUL bytes), bad YAML,
    YAML the function would refuse on stdin (:mod:`r2k8s.krm.limits`) or several documents are usage errors."""
    from r2k8s.krm.limits import shape_problem
    from r2k8s.krm.yamlio import YAMLError, load_documents

    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise R2k8sError(Category.USAGE, f"--config {name}: {exc.strerror or exc}") from None
    text = _decoded(data, f"--config {name}")
    if "\0" in text:
        raise R2k8sError(Category.USAGE, f"--config {name} is not a text file (a NUL byte at offset {data.index(0)})")
    problem = shape_problem(text)
    if problem is not None:
        field = f" at {problem.field}" if problem.field else ""
        raise R2k8sError(Category.USAGE, f"--config {name}: {problem.message}{field}: refused before reading it")
    try:
        documents = load_documents(text)
    except YAMLError as exc:
        raise R2k8sError(Category.USAGE, f"--config {name}: {exc}") from None
    if len(documents) != 1:
        raise R2k8sError(Category.USAGE, f"--config {name}: expected one YAML document, found {len(documents)}")
    return documents[0]
