"""``r2k8s formula-id``, ``r2k8s lint`` and ``r2k8s formula-resource``: a formula's ID, what in a formula cannot run,
and a formula file as a Formula resource.

``formula-id`` prints the ID repeatr prints for any formula repeatr hashes, even
one no run can succeed with (a relative mount path, ``tar:`` with no hash...),
and says on stderr what looks wrong; ``lint`` lists those warnings alone and
exits 1 if there are any.

``formula-resource`` lets users keep ``.formula`` files and generate the form a
package carries for functions that see no files (:mod:`r2k8s.krm.formula_items`).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from r2k8s.cli.console import Subparsers, log
from r2k8s.core.errors import Category, R2k8sError

__all__ = ["add_parsers", "cmd_formula_id", "cmd_formula_resource", "cmd_lint", "default_name"]

_FORMULA_SUFFIX = re.compile(r"^(?P<name>.+?)\.formula(?:\.[^.]+)?$")


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser("formula-id", help="print a formula's ID (repeatr's runrecord formulaID)")
    p.add_argument("file", help="formula file: modern JSON/YAML, or legacy repeatr v0.13-v0.15 YAML/JSON")
    p.add_argument(
        "--raw", action="store_true", help="hash the formula as written, without defaults (repeatr's memo key)"
    )
    p.set_defaults(run=cmd_formula_id)

    p = sub.add_parser(
        "lint",
        help="list what in formula files repeatr would hash but not run, or ignore; exit 1 if anything",
        description="Print one line per problem (FILE:LINE:COL: $.path: what) in each formula file: what repeatr"
        " hashes without a word but cannot run (relative mount paths, cwd or homedir, ware IDs without a packtype or"
        " hash, no 'formula' at all) and what it silently ignores (unknown filter keys). Exit 1 if any, 0 if none."
        " A file repeatr cannot parse is an error (exit 1) as for formula-id.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="formula file: modern JSON/YAML, or legacy")
    p.set_defaults(run=cmd_lint)

    p = sub.add_parser(
        "formula-resource",
        help="print formula files as Formula resources (image: formula:NAME), for packages that carry their formulas",
        description="Print each formula file, checked, as a Formula resource (apiVersion fn.r2k8s.io/v1alpha1,"
        " local-config) that image: formula:NAME names; several files give a multi-document stream. The resource"
        " gives the same formula ID as the file.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="formula file: modern JSON/YAML, or legacy")
    p.add_argument(
        "--name",
        help="the resource's name, the NAME of image: formula:NAME (one FILE only; default: the file name without"
        " .formula, or without its extension)",
    )
    p.set_defaults(run=cmd_formula_resource)


def cmd_formula_id(args: argparse.Namespace) -> str:
    from r2k8s.core.formula.ids import raw_setup_hash
    from r2k8s.formula_files import load_formula_file

    loaded = load_formula_file(Path(args.file), strict=False)
    for note in loaded.notes:
        log(f"warning: {note}")
    if args.raw and loaded.kind != "legacy":
        return raw_setup_hash(loaded.formula)
    return loaded.formula_id  # a legacy file's is its legacy setup hash, with or without --raw


def cmd_lint(args: argparse.Namespace) -> None:
    from r2k8s.cli import write_stdout
    from r2k8s.formula_files import load_formula_file

    found = [note for file in args.files for note in load_formula_file(Path(file), strict=False).notes]
    if found:
        write_stdout("".join(f"{line}\n" for line in found))
        raise R2k8sError(Category.USAGE, f"{len(found)} problem(s) in {len(args.files)} formula file(s)")


def default_name(file: str) -> str:
    """``web.formula``, ``web.formula.json`` → ``web``; any other file name without its extension."""
    name = Path(file).name
    matched = _FORMULA_SUFFIX.match(name)
    return matched.group("name") if matched else Path(name).stem or name


def cmd_formula_resource(args: argparse.Namespace) -> None:
    from r2k8s.cli import write_stdout
    from r2k8s.formula_files import load_formula_file
    from r2k8s.krm import yamlio
    from r2k8s.krm.formula_items import NAME, formula_resource

    if args.name is not None and len(args.files) > 1:
        raise R2k8sError(Category.USAGE, "--name names one resource: give one FILE with it")
    documents: list[Any] = []
    named: dict[str, str] = {}
    for file in args.files:
        loaded = load_formula_file(Path(file))
        name = args.name if args.name is not None else default_name(file)
        if not NAME.match(name):
            hint = "" if args.name is not None else " (from the file name; choose one with --name)"
            raise R2k8sError(
                Category.USAGE,
                f"{file}: {name!r} cannot be a formula's name{hint}: use letters, digits, '.', '_' and '-',"
                " starting with a letter or digit",
            )
        if name in named:
            raise R2k8sError(
                Category.USAGE,
                f"{file} and {named[name]} would both be Formula {name!r}: rename one, or give each its --name",
            )
        named[name] = file
        resource = formula_resource(name, loaded.document)
        _check_round_trip(file, yamlio.block(resource), loaded.formula_id)
        documents.append(yamlio.block(resource))
    write_stdout(yamlio.dump_documents(documents, explicit_start=len(documents) > 1))


def _check_round_trip(file: str, resource: Any, formula_id: str) -> None:
    """Make sure the written resource reads back, with either of the function's readers, as the file's formula:
    a resource that named another formula than its file would run something the user never wrote."""
    import yaml

    from r2k8s.formula_files import load_formula_data
    from r2k8s.krm import yamlio

    text = yamlio.dump_documents([resource])
    for read in (yaml.safe_load(text), yamlio.to_plain(yamlio.load_documents(text)[0])):
        if load_formula_data(read["spec"], file).formula_id != formula_id:
            raise R2k8sError(
                Category.PANIC, f"{file}: the Formula resource would not give the file's formula ID {formula_id}"
            )
