"""The ``r2k8s`` command line.

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
from pathlib import Path
from typing import NoReturn

from r2k8s import __version__
from r2k8s.core.errors import Category, R2k8sError

EXIT_CODES_HELP = """exit codes (shared with repeatr and rio):
  0 success                 1 usage error or invalid input   2 internal error
  3 warehouse unavailable   4 warehouse unwritable           5 ware not found
  6 ware corrupt            7 hash mismatch                  8 cancelled
  9 ware cache problem      10 assembly invalid              11 pack invalid
  12 inoperable path        13 filter rejection              40 job invalid
  41 local cache problem    42 executor failed
'run' exits 0 when the formula ran, whatever the action's own exit code (see the run record).
"""


def log(line: str) -> None:
    print(f"r2k8s: {line}", file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments; 2 means a crash here, so use 1 (usage)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(Category.USAGE.exit_code)


def cmd_formula_id(args: argparse.Namespace) -> str:
    from r2k8s.core.formula_id import formula_id, legacy_setup_hash, raw_setup_hash
    from r2k8s.formula_files import load_formula_file

    loaded = load_formula_file(Path(args.file))
    if loaded.kind == "legacy":
        return legacy_setup_hash(loaded.legacy)
    return raw_setup_hash(loaded.formula) if args.raw else formula_id(loaded.formula)


def cmd_scan(args: argparse.Namespace) -> str:
    from r2k8s.core import filters as flt
    from r2k8s.core.ingest import ingest_tar
    from r2k8s.core.warehouse import open_url

    filters = _filters(flt.UNPACK, args.filters, flt.UNPACK_CONSERVATIVE)
    source = args.source if "://" in args.source else Path(args.source)
    if isinstance(source, Path):
        try:
            stream = open(source, "rb")
        except OSError as exc:
            raise R2k8sError(Category.WARE_NOT_FOUND, f"cannot read {args.source!r}: {exc.strerror}") from None
    else:
        stream = open_url(source, Path.cwd())
    with stream:
        result = ingest_tar(stream, filters, log=log, packtype=args.packtype, legacy=args.legacy)
    return str(result.filtered_id.hash if args.legacy else result.filtered_id)


def cmd_pack(args: argparse.Namespace) -> str:
    from r2k8s.core import filters as flt
    from r2k8s.core.pack import pack_tree
    from r2k8s.core.warehouse import begin_save

    filters = _filters(flt.PACK, args.filters, flt.PACK_CONSERVATIVE)
    root = Path(args.dir)
    if not args.target:
        return str(pack_tree(root, filters, None))
    with begin_save(args.target, Path.cwd(), log) as sink:
        ware_id = pack_tree(root, filters, sink.file, compression=args.compression)
        if not ware_id.hash:
            return str(ware_id)
        location = sink.commit(ware_id)
    log(f"saved {ware_id} to {location}")
    return str(ware_id)


def cmd_unpack(args: argparse.Namespace) -> str:
    from r2k8s.core import filters as flt
    from r2k8s.core.unpack import unpack_tar
    from r2k8s.core.warehouse import open_ware
    from r2k8s.core.wareid import WareID

    ware_id = WareID.parse(args.ware_id)
    filters = _filters(flt.UNPACK, args.filters, flt.UNPACK_LOWPRIV)
    stream, location = open_ware(ware_id, args.source, Path.cwd(), log)
    with stream:
        result = unpack_tar(ware_id, stream, Path(args.dir), filters, log)
    log(f"unpacked {ware_id} from {location} into {args.dir}")
    return str(result)


def _filters(mode: str, text: str | None, default):  # type: ignore[no-untyped-def]
    from r2k8s.core.filters import Filters

    if text is None:
        return default
    return Filters.parse(mode, text).with_defaults(default)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="r2k8s",
        description="Run Repeatr formulas on Kubernetes; compute formula and ware IDs exactly as repeatr and rio do.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"r2k8s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("formula-id", help="print a formula's ID (repeatr's runrecord formulaID)")
    p.add_argument("file", help="formula file: modern JSON/YAML, or legacy repeatr v0.13-v0.15 YAML/JSON")
    p.add_argument("--raw", action="store_true", help="hash the formula as written, without defaults (repeatr's memo key)")
    p.set_defaults(run=cmd_formula_id)

    filters_help = "rio filter string, e.g. 'uid=1000,gid=1000,mtime=@1262304000' or a named set ('{}') with overrides"
    p = sub.add_parser("scan", help="print the ware ID of a tarball (gzip, bzip2, xz or plain)")
    p.add_argument("source", help="a tarball path, or a file:// or http(s):// URL naming one ware")
    p.add_argument("--filters", help=filters_help.format("conservative (default), lossless, lowpriv"))
    p.add_argument("--legacy", action="store_true", help="print repeatr v0.15's legacy tree hash (base64url) instead")
    p.add_argument("--packtype", default="tar", choices=["tar"], help=argparse.SUPPRESS)
    p.set_defaults(run=cmd_scan)

    p = sub.add_parser("pack", help="pack a directory into a tar ware and print its ID")
    p.add_argument("dir")
    p.add_argument("--filters", help=filters_help.format("conservative (default), flatten, lossless"))
    p.add_argument("--target", help="warehouse to save to: file://PATH or ca+file://DIR (default: hash only)")
    p.add_argument("--compression", choices=["gzip", "none"], default="gzip", help="compression of the saved tar (default gzip, like rio)")
    p.set_defaults(run=cmd_pack)

    p = sub.add_parser("unpack", help="fetch, verify and unpack a ware into a directory; print the resulting ware ID")
    p.add_argument("ware_id", metavar="WAREID")
    p.add_argument("dir", help="target directory: must not exist or be empty; it is filled only if the ware verifies")
    p.add_argument("--source", action="append", required=True, metavar="URL", help="warehouse URL; repeat to give fallbacks, tried in order")
    p.add_argument("--filters", help=filters_help.format("lowpriv (default), lossless, conservative"))
    p.set_defaults(run=cmd_unpack)

    from r2k8s import run_command

    run_command.add_parser(sub)

    _add_fn_arguments(sub.add_parser("fn", **FN_PARSER))
    return parser


FN_PARSER = {
    "help": "the KRM function: ResourceList (or a plain YAML stream, for helm) on stdin, rewritten on stdout",
    "description": "Expand every container whose image is ./path.formula or formula:NAME into a pod that fetches,"
                   " verifies and runs the formula. 'r2k8s' with stdin piped and no arguments does the same.",
}


def _add_fn_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--explain", action="store_true", help="print the JSON-patch operations per resource instead")
    p.add_argument("--config", metavar="FILE", help="function config file (overrides the ResourceList's functionConfig)")
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
            raise R2k8sError(Category.USAGE, f"--config {args.config}: expected one YAML document, found {len(documents)}")
        config = documents[0]
    if args.extra:
        log(f"note: ignoring extra arguments {args.extra!r} (configure the function with --config or functionConfig)")
    outcome = run(text, explain=args.explain, config_override=config)
    for message in outcome.messages:
        log(f"error: {message}")
    if outcome.output:
        sys.stdout.write(outcome.output)
        sys.stdout.flush()
    if outcome.exit_code:
        raise SystemExit(outcome.exit_code)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 1 and not sys.stdin.isatty():
        argv = ["fn"]  # kustomize, kpt and helm run the function with stdin piped and no arguments
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["fn"]:  # the function's start-up counts: skip building every other subcommand's parser
        args = _add_fn_arguments(_Parser(prog="r2k8s fn", description=FN_PARSER["description"])).parse_args(words[1:])
    else:
        args = build_parser().parse_args(argv)
        if getattr(args, "run", None) is None:
            build_parser().print_help(sys.stderr)
            return Category.USAGE.exit_code
    run: Callable[[argparse.Namespace], str | None] = args.run
    try:
        result = run(args)
    except R2k8sError as exc:
        log(f"error: {exc.category.wire_name}: {exc.message}")
        return exc.category.exit_code
    except KeyboardInterrupt:
        log("error: interrupted")
        return Category.CANCELLED.exit_code
    except BrokenPipeError:
        return Category.USAGE.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence prints and maps to "panic"
        if os.environ.get("R2K8S_DEBUG"):
            raise
        log(f"error: internal error ({type(exc).__name__}: {exc}); set R2K8S_DEBUG=1 for a traceback")
        return Category.PANIC.exit_code
    if result is not None:
        print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
