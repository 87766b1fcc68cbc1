"""Hostile input for the KRM function, ``r2k8s fn`` (issue 12): on stdin as a ResourceList and as a plain (helm)
stream, through ``--config FILE``, and piped to a bare ``r2k8s`` as kustomize runs it.

Everything is written as YAML text here (``hostile_inputs``), so malformed fields, complex keys and odd escapes
reach the function exactly as an attacker would write them: deep nesting (100, 101, 5,000 and 50,000 levels,
flow and block style, with and without a formula), alias bombs (in a resource, in the function config, in a
``--config`` file), invalid UTF-8, NUL bytes in image paths and path annotations, UTF-16 and UTF-8 BOMs,
lone surrogates, CRLF, and wrong types in the container and pod fields the function reads and rewrites.

Besides the checks every case gets (no exit 2, no signal, no hang, bounded memory, a message), the function
must never exit 0 with empty output; a failure on a ResourceList names the resource and, where there is one,
the field, in an error ``result``; and what it accepts must parse back.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostile_inputs import (
    FUNCTION_CONFIG,
    Box,
    Case,
    Ran,
    Report,
    alias_bomb,
    as_resource_list,
    as_stream,
    assert_no_problems,
    crlf,
    deployment_yaml,
    exit_problems,
    modern_formula_text,
    nested,
    nested_block,
    params,
    plain_yaml,
    snapshot,
    utf16,
)

OK, FAIL, EITHER = frozenset({0}), frozenset({1}), frozenset({0, 1})
WEB = ("Deployment", "web")


def package(*extra: tuple[str, bytes]) -> Callable[[Box], None]:
    """The package root: ``web.formula`` (valid) and any ``extra`` files."""

    def prepare(box: Box) -> None:
        box.write("web.formula", modern_formula_text())
        for rel, data in extra:
            box.write(rel, data)

    return prepare


def yaml_problem(text: bytes) -> str | None:
    """Why ``text`` is not a YAML stream, or None. Read as nodes (complex keys are YAML, if not Python), by
    libyaml (fast, and not recursive: the output of a deep input is as deep) or else by PyYAML's own parser,
    which the function uses too and which reads escapes libyaml refuses (``"\\ud800"``)."""
    problems = []
    for loader in (getattr(yaml, "CSafeLoader", yaml.SafeLoader), yaml.SafeLoader):
        try:
            for _ in yaml.compose_all(text, Loader=loader):
                pass
        except yaml.YAMLError as exc:
            problems.append(str(exc)[:200])
        except RecursionError:
            continue  # too deep for the pure-Python composer: the C one decides
        else:
            return None
    return problems[0] if problems else None


def output_problems(
    mode: str, resource: tuple[str, str | None] | None, field: str | None, expands: bool, echoes: bool = True
) -> Callable[[Box, Ran], list[str]]:
    """What the function's stdout must be: parseable when it succeeded (and carrying the expansion when the
    input named a formula), and for a ResourceList that failed on a resource, the list with an error result
    naming it (and the field)."""

    def check(box: Box, ran: Ran) -> list[str]:
        problems: list[str] = []
        if ran.code == 0:
            problem = yaml_problem(ran.stdout)
            if problem:
                return [f"exit 0 but the output is not YAML: {problem}"]
            if mode == "list" and not re.search(rb"(^|\n)kind: ResourceList\r?\n", ran.stdout):
                problems.append("exit 0 but the output is not a ResourceList")
            if expands and b"r2k8s-fetch-" not in ran.stdout:
                problems.append("exit 0 but the formula container was not expanded")
            return problems
        if ran.code != 1 or mode != "list" or resource is None or not echoes:
            return problems
        try:
            output = yaml.safe_load(ran.stdout) if ran.stdout.strip() else None
        except yaml.YAMLError:
            output = None
        if not isinstance(output, dict) or output.get("kind") != "ResourceList":
            return ["failed on a resource of a ResourceList but printed no ResourceList with results"]
        errors = [r for r in output.get("results") or [] if isinstance(r, dict) and r.get("severity") == "error"]
        kind, name = resource

        def names_it(result: dict[str, Any]) -> bool:
            ref = result.get("resourceRef") or {}
            if ref.get("kind") != kind or (name is not None and ref.get("name") != name):
                return False
            return field is None or field in str((result.get("field") or {}).get("path", ""))

        if not any(names_it(r) for r in errors):
            problems.append(f"no error result with resourceRef {kind}/{name or '*'} and a field naming {field!r}")
        return problems

    return check


def fn_case(
    case_id: str,
    documents: Sequence[str],
    codes: frozenset[int],
    *,
    mode: str = "list",
    config: str | None = None,
    resource: tuple[str, str | None] | None = None,
    field: str | None = None,
    says: tuple[str, ...] = (),
    encode: Callable[[str], bytes] = str.encode,
    args: tuple[str, ...] = ("fn",),
    extra: tuple[tuple[str, bytes], ...] = (),
    expands: bool | None = None,
    echoes: bool = True,
    **kw: Any,
) -> Case:
    text = as_resource_list(documents, config) if mode == "list" else as_stream(documents)
    if resource is not None and resource[1] is not None:
        says = (f"{resource[0]}/{resource[1]}", *says)
    if field is not None:
        says = (*says, field)
    if expands is None:
        expands = any("./web.formula" in d for d in documents) and config is None
    return Case(
        f"fn-{mode}-{case_id}",
        args,
        package(*extra),
        codes,
        stdin=encode(text),
        says=says,
        check=output_problems(mode, resource, field, expands, echoes),
        empty_stdout_on_failure=False,
        **{"timeout": 20, **kw},
    )


def widget(spec_line: str, name: str = "w") -> str:
    """A resource no container rule matches (no formula anywhere)."""
    return f"apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n  {spec_line}\n"


BOTH = ("list", "stream")

# -- deep nesting --------------------------------------------------------------------------------------------

DEEP = [
    *(
        fn_case(f"nested-{d}-with-formula", [deployment_yaml(spec=[f"extra: {nested(d)}"])], EITHER, mode=m)
        for d in (100, 101, 5000, 50000)
        for m in BOTH
    ),
    *(
        fn_case(f"nested-{d}-maps-with-formula", [deployment_yaml(spec=[f"extra: {nested(d, 'map')}"])], EITHER)
        for d in (5000, 50000)
    ),
    *(
        fn_case(f"nested-{d}-without-formula", [widget(f"x: {nested(d)}")], EITHER, mode=m)
        for d in (5000, 50000)
        for m in BOTH
    ),
    *(
        fn_case(f"block-nested-{d}-with-formula", [deployment_yaml(spec=["extra:\n" + nested_block(d, 2)])], EITHER)
        for d in (100, 101)
    ),
    fn_case(
        "nested-50000-in-function-config",
        [deployment_yaml()],
        EITHER,
        config=FUNCTION_CONFIG + f"x: {nested(50000)}\n",
        says=("functionConfig",),
    ),
]

# -- bombs -----------------------------------------------------------------------------------------------------

BOMBS = [
    *(
        fn_case(
            "alias-bomb-with-formula",
            [deployment_yaml(spec=["bomb:\n" + alias_bomb(indent=2)])],
            FAIL,
            mode=m,
            resource=WEB,
            echoes=False,  # it cannot be read safely, so the list need not come back; stderr names the resource
        )
        for m in BOTH
    ),
    *(fn_case("alias-bomb-without-formula", [widget("bomb:\n" + alias_bomb(indent=4))], EITHER, mode=m) for m in BOTH),
    fn_case(
        "alias-bomb-in-function-config",
        [deployment_yaml()],
        EITHER,
        config=FUNCTION_CONFIG + "x:\n" + alias_bomb(indent=2),
        says=("functionConfig",),
    ),
    fn_case("huge-scalar-1MiB-with-formula", [deployment_yaml(spec=["extra: " + "x" * (1 << 20)])], OK, mode="stream"),
    fn_case("huge-scalar-16MiB-without-formula", [widget("x: " + "x" * (16 << 20))], OK),
]

SLOW_BOMBS = [
    fn_case(
        "50000-documents-one-formula",
        [deployment_yaml()] + [plain_yaml(f"cm{i}") for i in range(50_000)],
        OK,
        mode="stream",
        timeout=40,
        max_rss_mib=1500,
    ),
]

# -- encodings -------------------------------------------------------------------------------------------------


def with_bytes(old: bytes, new: bytes) -> Callable[[str], bytes]:
    def encode(text: str) -> bytes:
        data = text.encode()
        assert old in data
        return data.replace(old, new, 1)

    return encode


ENCODINGS = [
    *(
        fn_case(
            "invalid-utf8",
            [deployment_yaml("env: [{name: X, value: vvv}]")],
            FAIL,
            mode=m,
            encode=with_bytes(b"vvv", b"\xff\xfe"),
        )
        for m in BOTH
    ),
    fn_case("invalid-utf8-without-formula", [widget("x: vvv")], FAIL, encode=with_bytes(b"vvv", b"\xff")),
    fn_case("overlong-slash", [deployment_yaml("workingDir: vvv")], FAIL, encode=with_bytes(b"vvv", b"/\xc0\xaf")),
    fn_case(
        "raw-nul-byte", [deployment_yaml("env: [{name: X, value: vvv}]")], FAIL, encode=with_bytes(b"vvv", b"a\x00b")
    ),
    *(
        fn_case(
            "nul-in-image-path",
            [deployment_yaml(image='"./web\\0.formula"')],
            FAIL,
            mode=m,
            resource=WEB,
            field="image",
        )
        for m in BOTH
    ),
    *(
        fn_case(
            f"nul-in-{annotation.split('/')[0]}-path-annotation",
            [deployment_yaml(metadata=[f'annotations: {{{annotation}: "sub\\0dir/deploy.yaml"}}'])],
            FAIL,
            resource=WEB,
        )
        for annotation in ("internal.config.kubernetes.io/path", "config.kubernetes.io/path")
    ),
    fn_case(
        "lone-surrogate-in-image-path",
        [deployment_yaml(image='"./\\ud800.formula"')],
        FAIL,
        resource=WEB,
        field="image",
    ),
    *(
        fn_case("lone-surrogate-in-env", [deployment_yaml('env: [{name: X, value: "\\ud800"}]')], EITHER, mode=m)
        for m in BOTH
    ),
    fn_case("lone-surrogate-in-label", [deployment_yaml(metadata=['labels: {a: "\\udc00\\ud800"}'])], EITHER),
    fn_case("lone-surrogate-without-formula", [widget('x: "\\ud800"')], EITHER),
    *(fn_case(f"utf16{o}-bom", [deployment_yaml()], EITHER, encode=lambda t, o=o: utf16(t, o)) for o in ("le", "be")),
    *(
        fn_case("utf8-bom", [deployment_yaml()], EITHER, mode=m, encode=lambda t: b"\xef\xbb\xbf" + t.encode())
        for m in BOTH
    ),
    *(fn_case("crlf", [deployment_yaml()], OK, mode=m, encode=lambda t: crlf(t).encode()) for m in BOTH),
    fn_case("crlf-without-formula", [widget("x: 1")], OK, encode=lambda t: crlf(t).encode()),
    fn_case(
        "formula-file-in-utf16",
        [deployment_yaml(image="./u16.formula")],
        EITHER,
        extra=(("u16.formula", utf16(modern_formula_text())),),
        expands=False,
    ),
    fn_case(
        "formula-file-with-invalid-utf8",
        [deployment_yaml(image="./bad.formula")],
        FAIL,
        resource=WEB,
        extra=(("bad.formula", b"formula: {inputs: {\xff: x}}\n"),),
        says=("bad.formula",),
    ),
    fn_case(
        "formula-file-is-binary",
        [deployment_yaml(image="./bin.formula")],
        FAIL,
        resource=WEB,
        extra=(("bin.formula", bytes(range(256)) * 16),),
        says=("bin.formula",),
    ),
]

# -- malformed fields ------------------------------------------------------------------------------------------

CONTAINER_FIELDS = {
    "env-is-5": ("env: 5", "env"),
    "env-is-a-string": ("env: hello", "env"),
    "env-item-is-5": ("env: [5]", "env"),
    "env-item-without-name": ("env: [{value: x}]", "env"),
    "env-name-is-a-list": ("env: [{name: [a], value: x}]", "env"),
    "command-is-5": ("command: 5", "command"),
    "command-is-a-string": ("command: /bin/sh", "command"),
    "command-item-is-a-map": ("command: [{a: 1}]", "command"),
    "args-is-hello": ("args: hello", "args"),
    "args-is-5": ("args: 5", "args"),
    "args-item-is-a-list": ("args: [[a]]", "args"),
    "volumeMounts-is-x": ("volumeMounts: x", "volumeMounts"),
    "volumeMounts-item-is-5": ("volumeMounts: [5]", "volumeMounts"),
    "workingDir-is-5": ("workingDir: 5", "workingDir"),
    "workingDir-is-a-list": ("workingDir: [a]", "workingDir"),
}
IN_STREAMS_TOO = {"env-is-5", "command-is-5", "args-is-hello", "volumeMounts-is-x"}

MALFORMED = [
    *(
        fn_case(f"container-{name}", [deployment_yaml(line)], FAIL, mode=m, resource=WEB, field=field)
        for name, (line, field) in CONTAINER_FIELDS.items()
        for m in (BOTH if name in IN_STREAMS_TOO else ("list",))
    ),
    fn_case("container-name-is-5", [deployment_yaml(container_name="5")], FAIL, resource=WEB, field="name"),
    fn_case("container-name-is-a-list", [deployment_yaml(container_name="[a]")], FAIL, resource=WEB, field="name"),
    *(
        fn_case(f"pod-{name}", [deployment_yaml(pod=[line])], FAIL, mode=m, resource=WEB, field=field)
        for name, line, field, modes in [
            ("initContainers-is-7", "initContainers: 7", "initContainers", BOTH),
            ("initContainers-item-is-5", "initContainers: [5]", "initContainers", ("list",)),
            ("volumes-is-7", "volumes: 7", "volumes", ("list",)),
            ("volumes-item-is-x", "volumes: [x]", "volumes", ("list",)),
        ]
        for m in modes
    ),
    *(
        fn_case(
            "metadata-name-is-a-list",
            [deployment_yaml(name_line="  name: [a, b]\n")],
            FAIL,
            mode=m,
            resource=("Deployment", None),
            field="name",
        )
        for m in BOTH
    ),
    fn_case(
        "metadata-name-is-a-map",
        [deployment_yaml(name_line="  name: {a: 1}\n")],
        FAIL,
        resource=("Deployment", None),
        field="name",
    ),
    fn_case(
        "metadata-annotations-is-5",
        [deployment_yaml(metadata=["annotations: 5"])],
        EITHER,
        resource=WEB,
        field="annotations",
    ),
    fn_case(
        "metadata-annotations-is-a-list",
        [deployment_yaml(metadata=["annotations: [x]"])],
        EITHER,
        resource=WEB,
        field="annotations",
    ),
    fn_case(
        "metadata-namespace-is-a-list",
        [deployment_yaml(metadata=["namespace: [x]"])],
        FAIL,
        resource=("Deployment", None),
        field="namespace",
    ),
    fn_case(
        "metadata-is-5",
        [deployment_yaml(name_line="")],
        EITHER,
        resource=("Deployment", None),
        encode=with_bytes(b"metadata:\n", b"metadata: 5\n"),
    ),
    fn_case(
        "template-annotations-is-5",
        [deployment_yaml(template_metadata=["annotations: 5"])],
        FAIL,
        resource=WEB,
        field="annotations",
    ),
    fn_case(
        "containers-is-5",
        [deployment_yaml()],
        EITHER,
        encode=with_bytes(b"containers:\n", b"containers: 5\nx:\n"),
        expands=False,
    ),
    fn_case(
        "kind-is-a-list",
        [deployment_yaml()],
        EITHER,
        encode=with_bytes(b"kind: Deployment", b"kind: [Deployment]"),
        expands=False,
    ),
    fn_case(
        "apiVersion-is-5",
        [deployment_yaml()],
        EITHER,
        encode=with_bytes(b"apiVersion: apps/v1", b"apiVersion: 5"),
        expands=False,
    ),
    fn_case("item-is-a-list", ["[1, 2]\n", deployment_yaml()], FAIL),
    fn_case("item-is-a-scalar", ["hello\n", deployment_yaml()], FAIL),
    fn_case("items-is-5", [], FAIL, encode=lambda t: t.replace("items:\n", "items: 5\n").encode()),
    fn_case("items-is-a-map", [], FAIL, encode=lambda t: t.replace("items:\n", "items: {a: 1}\n").encode()),
    fn_case(
        "function-config-is-5",
        [deployment_yaml()],
        FAIL,
        encode=lambda t: (t + "functionConfig: 5\n").encode(),
        says=("functionConfig",),
    ),
    fn_case(
        "function-config-is-a-list",
        [deployment_yaml()],
        FAIL,
        encode=lambda t: (t + "functionConfig: [x]\n").encode(),
        says=("functionConfig",),
    ),
    *(
        fn_case(
            f"config-{name}",
            [deployment_yaml(image=image)],
            FAIL,
            config=FUNCTION_CONFIG + "spec:\n" + body,
            says=("functionConfig", field),
        )
        for name, body, field, image in [
            ("formulas-is-5", "  formulas: 5\n", "formulas", "formula:hello"),
            ("formula-is-5", "  formulas: {hello: 5}\n", "hello", "formula:hello"),
            ("fieldPaths-item-is-5", "  fieldPaths: [5]\n", "fieldPaths", "./web.formula"),
            ("rewrite-from-is-5", "  warehouses: {rewrite: [{from: 5, to: x}]}\n", "from", "./web.formula"),
            ("cache-path-is-5", "  cache: {type: hostPath, path: 5}\n", "path", "./web.formula"),
        ]
    ),
    # complex and non-string keys
    fn_case("complex-key-in-container", [deployment_yaml("? [a, b]\n: c")], EITHER),
    fn_case("complex-key-at-top-of-item", [deployment_yaml() + "? {a: 1}\n: b\n"], EITHER),
    fn_case("complex-key-in-labels", [deployment_yaml(metadata=["labels: {? [a]: b}"])], EITHER),
    fn_case("int-key-in-container", [deployment_yaml("1: x")], EITHER),
    fn_case("bool-and-null-keys-in-env-item", [deployment_yaml("env: [{name: X, value: y, true: 1, ~: 2}]")], EITHER),
    fn_case(
        "int-key-in-function-config",
        [deployment_yaml()],
        FAIL,
        config=FUNCTION_CONFIG + "spec: {1: x}\n",
        says=("functionConfig",),
    ),
    fn_case(
        "complex-key-in-resource-list",
        [deployment_yaml()],
        EITHER,
        encode=lambda t: t.replace("items:\n", "? [a]\n: b\nitems:\n").encode(),
    ),
    # explain mode and the bare command kustomize runs
    fn_case(
        "explain-with-env-is-5", [deployment_yaml("env: 5")], FAIL, args=("fn", "--explain"), resource=WEB, field="env"
    ),
    fn_case("bare-invalid-utf8", [deployment_yaml()], FAIL, args=(), encode=lambda t: t.encode() + b"#\xff\n"),
    fn_case(
        "bare-alias-bomb",
        [deployment_yaml(spec=["bomb:\n" + alias_bomb(indent=2)])],
        FAIL,
        args=(),
        resource=WEB,
        echoes=False,
    ),
]

# -- --config FILE -----------------------------------------------------------------------------------------------


def config_file_case(
    case_id: str,
    data: bytes | None,
    codes: frozenset[int],
    *,
    path: str = "cfg.yaml",
    says: tuple[str, ...] = ("--config",),
) -> Case:
    extra = ((path, data),) if data is not None else ()
    return fn_case(
        f"config-file-{case_id}",
        [deployment_yaml()],
        codes,
        args=("fn", "--config", path),
        extra=extra,
        says=says,
        expands=False,
    )


CONFIG_FILE = [
    config_file_case("binary", bytes(range(256)) * 16, FAIL),
    config_file_case("invalid-utf8", FUNCTION_CONFIG.encode() + b"x: \xff\n", FAIL),
    config_file_case("utf16-bom", utf16(FUNCTION_CONFIG), EITHER),
    config_file_case("nested-50000", (FUNCTION_CONFIG + f"x: {nested(50000)}\n").encode(), FAIL),
    config_file_case("alias-bomb", (FUNCTION_CONFIG + "x:\n" + alias_bomb(indent=2)).encode(), EITHER),
    config_file_case("missing", None, FAIL),
    config_file_case("a-directory", None, FAIL, path="in"),
    config_file_case("empty", b"", FAIL),
    config_file_case("two-documents", (FUNCTION_CONFIG + "---\n" + FUNCTION_CONFIG).encode(), FAIL),
    config_file_case("a-list", b"- a\n- b\n", FAIL),
    config_file_case("spec-is-5", (FUNCTION_CONFIG + "spec: 5\n").encode(), FAIL, says=("spec",)),
    config_file_case("crlf", crlf(FUNCTION_CONFIG).encode(), OK),
    config_file_case("raw-nul", FUNCTION_CONFIG.encode() + b"x: a\x00b\n", FAIL),
]

CLI_TOO = {
    *(f"fn-{m}-container-{name}" for name in IN_STREAMS_TOO for m in BOTH),
    *(f"fn-{m}-metadata-name-is-a-list" for m in BOTH),
    *(f"fn-{m}-pod-initContainers-is-7" for m in BOTH),
    "fn-list-kind-is-a-list",
    "fn-list-complex-key-in-resource-list",
    "fn-list-function-config-is-5",
    "fn-list-explain-with-env-is-5",
    "fn-list-bare-invalid-utf8",
    "fn-list-bare-alias-bomb",
}
"""Malformed-field cases that also run as ``r2k8s fn``: those the issue names, and those that reach the
command line's own paths (the start-up shortcut, --explain, the bare command)."""

SHALLOW_OR_ESCAPED = {
    *(f"fn-{m}-nested-{d}-with-formula" for d in (100, 101) for m in BOTH),
    *(f"fn-list-block-nested-{d}-with-formula" for d in (100, 101)),
    *(f"fn-{m}-lone-surrogate-in-env" for m in BOTH),
    "fn-list-lone-surrogate-in-label",
}
"""Cases of plain UTF-8 text that the function itself decides (no bomb, no depth that could hurt the test
process): they run in process only, which keeps the suite short."""

IN_PROCESS = [
    case
    for case in DEEP + ENCODINGS + MALFORMED
    if (case.id in SHALLOW_OR_ESCAPED or case in MALFORMED) and case.args in (("fn",), ("fn", "--explain"))
]
CLI = [
    case
    for case in DEEP + BOMBS + ENCODINGS + MALFORMED + CONFIG_FILE
    if case.id not in SHALLOW_OR_ESCAPED and (case not in MALFORMED or case.id in CLI_TOO)
]


@pytest.mark.parametrize("case", params(CLI))
def test_function(case: Case, batch) -> None:
    assert_no_problems(batch.report(case))


class Overdue(Exception):
    """Raised by the timer in the test process: the function did not answer in time."""


@pytest.mark.parametrize("case", params(IN_PROCESS))
def test_function_in_process(case: Case, tmp_path: Path) -> None:
    """The malformed-field cases through ``r2k8s.krm.function.run`` itself, as ``r2k8s fn`` calls it: the
    same checks, with an exception (what the command reports as exit 2) standing for an internal error."""
    from r2k8s.krm.function import run

    box = Box(tmp_path / "box")
    assert case.prepare is not None and isinstance(case.stdin, bytes)
    case.prepare(box)
    before = snapshot(box.root)

    def overdue(_signum: int, _frame: object) -> None:
        raise Overdue

    previous_dir, previous_handler = os.getcwd(), signal.signal(signal.SIGALRM, overdue)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, case.timeout)
    try:
        os.chdir(box.root)
        outcome = run(case.stdin.decode(), explain="--explain" in case.args)
        code, out, err = outcome.exit_code, outcome.output, "\n".join(outcome.results.stderr_lines())
    except Overdue:
        code, out, err = None, "", ""
    except Exception as exc:  # what the command would report as an internal error
        code, out, err = 2, "", f"error: internal error ({type(exc).__name__}: {exc})"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        os.chdir(previous_dir)
    ran = Ran(
        ["r2k8s", *case.args], code, out.encode(errors="surrogateescape"), err.encode(), time.monotonic() - started, 0
    )
    problems = exit_problems(case, ran)
    if case.check is not None and code is not None:
        problems += case.check(box, ran)
    if snapshot(box.root) != before:
        problems.append("the package changed")
    assert_no_problems(Report(case, ran, problems))


@pytest.mark.slow
@pytest.mark.parametrize("case", params(SLOW_BOMBS))
def test_function_slow(case: Case, batch) -> None:
    assert_no_problems(batch.report(case))
