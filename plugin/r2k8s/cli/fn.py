"""``r2k8s fn``: the KRM function for kustomize, kpt and helm (also ``r2k8s`` with stdin piped and no arguments).

Start-up counts here (orchestrators run the function once per build), so
this module imports only the standard library and :mod:`r2k8s.krm.quick`
until there is a formula to expand.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from r2k8s.cli.console import Parser, Subparsers, log
from r2k8s.core.errors import Category, R2k8sError

__all__ = ["PARSER", "add_arguments", "add_parsers", "cmd_fn", "standalone_parser"]


def add_parsers(sub: Subparsers) -> None:
    add_arguments(sub.add_parser("fn", help=PARSER["help"], description=PARSER["description"]))


def standalone_parser() -> argparse.ArgumentParser:
    """The parser of ``r2k8s fn`` alone, without building every other command's."""
    return add_arguments(Parser(prog="r2k8s fn", description=PARSER["description"]))


PARSER = {
    "help": "the KRM function: ResourceList (or a plain YAML stream, for helm) on stdin, rewritten on stdout",
    "description": "Expand every container whose image is ./path.formula or formula:NAME into a pod that fetches,"
    " verifies and runs the formula. 'r2k8s' with stdin piped and no arguments does the same.",
}


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--explain", action="store_true", help="print the JSON-patch operations per resource instead")
    p.add_argument(
        "--config", metavar="FILE", help="function config file (overrides the ResourceList's functionConfig)"
    )
    p.add_argument("extra", nargs="*", help=argparse.SUPPRESS)  # helm --post-renderer-args, ignored with a note
    p.set_defaults(run=cmd_fn)
    return p


def cmd_fn(args: argparse.Namespace) -> None:
    from r2k8s.krm.quick import unchanged

    text = sys.stdin.read()
    if not (args.explain or args.config or os.environ.get("R2K8S_EXPLAIN")) and unchanged(text):
        sys.stdout.write(text)  # nothing to expand: the input is the answer (and start-up stays short)
        return
    from r2k8s.krm.function import run

    config = None
    if args.config:
        from r2k8s.krm.yamlio import YAMLError, load_documents

        try:
            documents = load_documents(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, YAMLError) as exc:
            raise R2k8sError(Category.USAGE, f"--config {args.config}: {exc}") from None
        if len(documents) != 1:
            raise R2k8sError(
                Category.USAGE, f"--config {args.config}: expected one YAML document, found {len(documents)}"
            )
        config = documents[0]
    if args.extra:
        log(f"note: ignoring extra arguments {args.extra!r} (configure the function with --config or functionConfig)")
    outcome = run(text, explain=args.explain, config_override=config)
    for line in outcome.results.stderr_lines():
        log(line)
    if outcome.output:
        sys.stdout.write(outcome.output)
        sys.stdout.flush()
    if outcome.exit_code:
        raise SystemExit(outcome.exit_code)
