"""``r2k8s formula-id``: a formula's ID exactly as repeatr computes it."""

from __future__ import annotations

import argparse
from pathlib import Path

from r2k8s.cli.console import Subparsers

__all__ = ["add_parsers", "cmd_formula_id"]


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser("formula-id", help="print a formula's ID (repeatr's runrecord formulaID)")
    p.add_argument("file", help="formula file: modern JSON/YAML, or legacy repeatr v0.13-v0.15 YAML/JSON")
    p.add_argument(
        "--raw", action="store_true", help="hash the formula as written, without defaults (repeatr's memo key)"
    )
    p.set_defaults(run=cmd_formula_id)


def cmd_formula_id(args: argparse.Namespace) -> str:
    from r2k8s.core.formula.ids import raw_setup_hash
    from r2k8s.formula_files import load_formula_file

    loaded = load_formula_file(Path(args.file))
    if args.raw and loaded.kind != "legacy":
        return raw_setup_hash(loaded.formula)
    return loaded.formula_id  # a legacy file's is its legacy setup hash, with or without --raw
