"""A seeded, deterministic mutation fuzzer for the long fuzz runs of issue 12, and its three targets.

``fuzz(target, executions, seed=…, workers=…)`` splits the executions between worker processes (each a
fresh ``python``, so a crash or a runaway allocation is the worker's, not pytest's); each worker draws its
inputs from ``random.Random(f"{seed}/{target}/{worker}")``: a seed input (or one of the inputs it has seen
accepted, kept as a small corpus), then one to four mutations — bit flips, interesting bytes and numbers,
dictionary tokens inserted or overwritten, insertions and deletions of random bytes, duplicated and swapped
ranges, splices with another input, truncation — and for tar, header checksums recomputed half of the time
so the damage reaches the field parsers, and gzip around the result now and then. The same seed gives the
same inputs, whatever the timing.

Every execution must end in the target's own answer: a result, or the module's clean error
(``R2k8sError``; for the function, an outcome with exit code 1 and a message). Anything else — another
exception, an answer over the per-execution time limit, a result that breaks the target's contract (the
function's exit 0 with empty output) — is a failure, reported with the input that caused it (base64) and
how to draw it again.

Targets (``TARGETS``):

* ``tar``: ``ingest_tar`` (what ``scan`` and ``unpack`` run) on mutated tarballs, with varying filters and
  the legacy hash;
* ``formula``: repeatr's lenient JSON decoder, and ``load_formula_bytes`` on modern JSON/YAML and legacy
  formulas, then both IDs of what loaded;
* ``function``: ``r2k8s.krm.function.run`` on mutated ResourceLists and plain streams (sometimes with
  ``explain``), in a package holding a formula.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import gzip
import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SUPPORT = Path(__file__).resolve().parent
PLUGIN = SUPPORT.parents[1] / "plugin"
BLOCK = 512

# -- the mutator --------------------------------------------------------------------------------------------

INTERESTING_BYTES = [0x00, 0x01, 0x0A, 0x0D, 0x20, 0x22, 0x2F, 0x30, 0x37, 0x3A, 0x5C, 0x7F, 0x80, 0xC0, 0xFF]
INTERESTING_NUMBERS = [
    b"0",
    b"-1",
    b"1",
    b"7",
    b"077777777777",
    b"4294967296",
    b"9223372036854775808",
    b"99999999999999999999",
    b"1e309",
    b"-0",
    b"0x10",
    b"1.5",
    b".",
]


class Mutator:
    """Byte-level mutations drawn from ``rng``; ``dictionary`` holds the target's tokens."""

    def __init__(self, rng: random.Random, dictionary: Sequence[bytes]) -> None:
        self.rng = rng
        self.dictionary = list(dictionary) or [b"x"]

    def mutate(self, data: bytes, others: Sequence[bytes]) -> bytes:
        out = bytearray(data)
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3, 4))):
            self._once(out, others)
        return bytes(out)

    def _at(self, out: bytearray, end: bool = False) -> int:
        return self.rng.randint(0, len(out)) if end or not out else self.rng.randrange(len(out))

    def _once(self, out: bytearray, others: Sequence[bytes]) -> None:
        rng = self.rng
        op = rng.randrange(12)
        if not out and op not in (3, 4, 5):
            op = 4
        if op == 0:  # flip a bit
            at = self._at(out)
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1:  # a random byte
            out[self._at(out)] = rng.randrange(256)
        elif op == 2:  # an interesting byte
            out[self._at(out)] = rng.choice(INTERESTING_BYTES)
        elif op == 3:  # insert random bytes
            at = self._at(out, end=True)
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 4:  # insert a token
            at = self._at(out, end=True)
            out[at:at] = rng.choice(self.dictionary)
        elif op == 5:  # insert an interesting number
            at = self._at(out, end=True)
            out[at:at] = rng.choice(INTERESTING_NUMBERS)
        elif op == 6:  # overwrite with a token
            token = rng.choice(self.dictionary)
            at = self._at(out)
            out[at : at + len(token)] = token
        elif op == 7:  # delete a range
            at = self._at(out)
            del out[at : at + rng.choice((1, 1, 2, 4, 8, 64, 512))]
        elif op == 8:  # duplicate a range elsewhere
            at, length = self._at(out), rng.randint(1, 64)
            chunk = bytes(out[at : at + length]) * rng.choice((1, 1, 2, 16))
            to = self._at(out, end=True)
            out[to:to] = chunk
        elif op == 9:  # swap two ranges
            a, b, length = self._at(out), self._at(out), rng.randint(1, 32)
            first, second = bytes(out[a : a + length]), bytes(out[b : b + length])
            if len(first) == len(second):
                out[a : a + length], out[b : b + length] = second, first
        elif op == 10:  # splice with another input
            other = rng.choice(others) if others else bytes(out)
            if other:
                cut, cut_other = self._at(out, end=True), rng.randrange(len(other))
                out[cut:] = other[cut_other:]
        else:  # truncate
            del out[self._at(out, end=True) :]


# -- the engine ---------------------------------------------------------------------------------------------


class Overdue(Exception):
    """Raised by the per-execution timer: no answer in time (not an R2k8sError, so it counts as a failure)."""


@dataclasses.dataclass
class Target:
    """One fuzz target: how to make seeds and run an input (in the worker), and its mutation tokens."""

    name: str
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes, random.Random], str]
    """Returns an outcome label; raises for a failure."""
    dictionary: Sequence[bytes] = ()
    prepare: Callable[[], None] | None = None
    """Runs once in the worker before the first execution (a working directory, a warm-up)."""
    shape: Callable[[bytes, random.Random], bytes] | None = None
    """After mutating: what the target adds (checksums, compression)."""
    keep: Callable[[str], bool] = lambda outcome: outcome == "ok"
    """Outcomes whose inputs join the corpus."""


@dataclasses.dataclass
class Failure:
    worker: int
    execution: int
    error: str
    input_b64: str


@dataclasses.dataclass
class FuzzReport:
    target: str
    executions: int
    seconds: float
    workers: int
    seed: int
    outcomes: collections.Counter[str]
    failures: list[Failure]
    worker_problems: list[str]

    @property
    def rate(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        top = ", ".join(f"{name} {count}" for name, count in self.outcomes.most_common(8))
        return (
            f"fuzz {self.target}: {self.executions} executions in {self.seconds:.1f}s ({self.rate:.0f}/s over"
            f" {self.workers} workers, seed {self.seed}), {len(self.failures)} failures; outcomes: {top}"
        )

    def details(self, limit: int = 5) -> str:
        lines = [self.summary(), *self.worker_problems]
        for failure in self.failures[:limit]:
            data = base64.b64decode(failure.input_b64)
            lines.append(
                f"- worker {failure.worker}, execution {failure.execution}: {failure.error}\n"
                f"  input ({len(data)} bytes): {data[:300]!r}"
            )
        return "\n".join(lines)


def fuzz(
    target: str,
    executions: int,
    *,
    seed: int,
    workers: int,
    timeout_per_execution: float = 10,
    failures_dir: Path | None = None,
) -> FuzzReport:
    """Run ``executions`` inputs through ``target`` in ``workers`` processes; collect what they saw."""
    shares = [executions // workers + (1 if i < executions % workers else 0) for i in range(workers)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PLUGIN), str(SUPPORT), os.environ.get("PYTHONPATH", "")]))
    started = time.monotonic()
    procs = []
    for index, share in enumerate(shares):
        args = [target, str(seed), str(index), str(share), str(timeout_per_execution)]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", "import fuzzing, sys; fuzzing.worker(sys.argv[1:])", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=tempfile.gettempdir(),
            )
        )
    outcomes: collections.Counter[str] = collections.Counter()
    failures: list[Failure] = []
    problems: list[str] = []
    done = 0
    for index, proc in enumerate(procs):
        out, err = proc.communicate()
        try:
            result = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            problems.append(f"worker {index} died (exit {proc.returncode}): {err.decode(errors='replace')[-2000:]}")
            continue
        done += result["executions"]
        outcomes.update(result["outcomes"])
        failures += [Failure(index, f["execution"], f["error"], f["input"]) for f in result["failures"]]
        if result["executions"] != shares[index]:
            problems.append(f"worker {index} ran {result['executions']} of {shares[index]} executions")
    report = FuzzReport(target, done, time.monotonic() - started, workers, seed, outcomes, failures, problems)
    if failures_dir is not None and failures:
        failures_dir.mkdir(parents=True, exist_ok=True)
        for failure in failures:
            name = f"{target}-w{failure.worker}-e{failure.execution}.input"
            (failures_dir / name).write_bytes(base64.b64decode(failure.input_b64))
    return report


def worker(argv: Sequence[str]) -> None:
    """A worker process: run its share and print one JSON line (executions, outcomes, failures)."""
    name, seed, index, share, per_execution = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), float(argv[4])
    target = TARGETS[name]()
    rng = random.Random(f"{seed}/{name}/{index}")
    mutator = Mutator(rng, target.dictionary)
    seeds = target.seeds()
    corpus: list[bytes] = []
    if target.prepare is not None:
        target.prepare()

    def overdue(_signum: int, _frame: object) -> None:
        raise Overdue(f"no answer within {per_execution:.0f}s")

    signal.signal(signal.SIGALRM, overdue)
    outcomes: collections.Counter[str] = collections.Counter()
    failures: list[dict[str, Any]] = []
    for execution in range(share):
        parent = rng.choice(corpus) if corpus and rng.random() < 0.3 else rng.choice(seeds)
        data = mutator.mutate(parent, seeds + corpus[-20:])
        if target.shape is not None:
            data = target.shape(data, rng)
        signal.setitimer(signal.ITIMER_REAL, per_execution)
        try:
            outcome = target.run(data, rng)
        except Exception as exc:  # anything but the target's own answer is what this fuzzer looks for
            signal.setitimer(signal.ITIMER_REAL, 0)
            outcomes["FAILURE"] += 1
            if len(failures) < 20:
                trace = traceback.format_exc(limit=-4)
                failures.append(
                    {
                        "execution": execution,
                        "error": f"{type(exc).__name__}: {str(exc)[:300]}\n{trace[-1500:]}",
                        "input": base64.b64encode(data[: 1 << 16]).decode(),
                    }
                )
            continue
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        outcomes[outcome] += 1
        if target.keep(outcome) and len(data) < (1 << 16):
            if len(corpus) < 500:
                corpus.append(data)
            else:
                corpus[rng.randrange(len(corpus))] = data
    print(json.dumps({"executions": share, "outcomes": outcomes, "failures": failures}))


def error_label(exc: Exception) -> str:
    category = getattr(exc, "category", None)
    return f"error:{category.wire_name}" if category is not None else f"error:{type(exc).__name__}"


# -- target: the tar reader ------------------------------------------------------------------------------------


def _tar_seeds() -> list[bytes]:
    def archive(fmt: int, entries: list[tuple[str, bytes, Any]], pax: dict[str, str] | None = None) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=fmt, pax_headers=pax) as out:
            for name, kind, extra in entries:
                info = tarfile.TarInfo(name)
                info.type, info.mtime, info.mode = kind, 1262304000, 0o755 if kind == tarfile.DIRTYPE else 0o644
                content = None
                for key, value in (extra or {}).items():
                    if key == "content":
                        content = value
                    else:
                        setattr(info, key, value)
                if content is not None:
                    info.size = len(content)
                out.addfile(info, io.BytesIO(content) if content is not None else None)
        return buffer.getvalue()

    common: list[tuple[str, bytes, Any]] = [
        (".", tarfile.DIRTYPE, {}),
        ("d", tarfile.DIRTYPE, {"uid": 1000, "gid": 1000}),
        ("d/f", tarfile.REGTYPE, {"content": b"hello world\n", "mode": 0o4755}),
        ("d/" + "long" * 30, tarfile.REGTYPE, {"content": b"long\n"}),
        ("link", tarfile.SYMTYPE, {"linkname": "../outside"}),
        ("hard", tarfile.LNKTYPE, {"linkname": "d/f"}),
        ("fifo", tarfile.FIFOTYPE, {}),
        ("dev", tarfile.CHRTYPE, {"devmajor": 1, "devminor": 3}),
    ]
    deep = [("/".join(["a"] * n), tarfile.DIRTYPE, {}) for n in range(1, 40)]
    xattrs = [("x", tarfile.REGTYPE, {"content": b"x", "pax_headers": {"SCHILY.xattr.user.k": "v", "mtime": "1.5"}})]
    seeds = [
        archive(tarfile.PAX_FORMAT, common),
        archive(tarfile.GNU_FORMAT, common),
        archive(tarfile.USTAR_FORMAT, common[:3] + common[4:]),
        archive(tarfile.PAX_FORMAT, deep),
        archive(tarfile.PAX_FORMAT, xattrs, pax={"comment": "global"}),
        archive(tarfile.GNU_FORMAT, [("n" * 300, tarfile.SYMTYPE, {"linkname": "t" * 300})]),
    ]
    return seeds + [gzip.compress(seeds[0], mtime=0)]


def _tar_shape(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.5:  # recompute the checksums of what still looks like a header
        out = bytearray(data)
        for at in range(0, len(out) - BLOCK + 1, BLOCK):
            if out[at + 257 : at + 262] == b"ustar":
                block = out[at : at + BLOCK]
                block[148:156] = b" " * 8
                block[148:156] = b"%06o\x00 " % sum(block)
                out[at : at + BLOCK] = block
        data = bytes(out)
    if rng.random() < 0.15:
        data = gzip.compress(data, compresslevel=1, mtime=0)
    return data


def _tar_target() -> Target:
    from r2k8s.core.errors import R2k8sError
    from r2k8s.core.ware import filters as flt
    from r2k8s.core.ware.ingest import IngestResult, ingest_tar

    filter_sets = [
        flt.UNPACK_LOWPRIV,
        flt.UNPACK_LOSSLESS,
        flt.UNPACK_CONSERVATIVE,
        flt.Filters.parse(flt.UNPACK, "lowpriv,dev=ignore,setid=ignore"),
    ]

    def run(data: bytes, rng: random.Random) -> str:
        try:
            result = ingest_tar(io.BytesIO(data), rng.choice(filter_sets), legacy=rng.random() < 0.2)
        except R2k8sError as exc:
            return error_label(exc)
        assert isinstance(result, IngestResult), type(result)
        assert result.prefilter_id.packtype == "tar" and result.prefilter_id.hash, result
        return "ok"

    dictionary = [
        b"ustar\x0000",
        b"ustar  \x00",
        b"././@LongLink\x00",
        b"path=",
        b"linkpath=",
        b"size=",
        b"uid=",
        b"mtime=",
        b"SCHILY.xattr.",
        b"GNU.sparse.",
        b"30 path=../../etc/passwd\n",
        b"\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",
        b"\xff" * 12,
        b"00000000000\x00",
        b"77777777777\x00",
        b"../",
        b"/",
        b"0",
        b"1",
        b"2",
        b"5",
        b"x",
        b"g",
        b"L",
        b"K",
        b"S",
        bytes(BLOCK),
        bytes(2 * BLOCK),
    ]
    return Target("tar", _tar_seeds, run, dictionary, shape=_tar_shape)


# -- target: the formula parsers ---------------------------------------------------------------------------------

WARE = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"


def _formula_seeds() -> list[bytes]:
    full = {
        "formula": {
            "inputs": {"/": WARE, "/mnt": "mount:ro:/tmp"},
            "action": {
                "exec": ["/bin/sh", "-c", "echo hi"],
                "env": {"A": "b"},
                "cwd": "/task",
                "userinfo": {"uid": 1000, "gid": 1000, "username": "u", "homedir": "/home/u"},
                "policy": "routine",
                "hostname": "h",
                "cradle": "enable",
            },
            "outputs": {"/out": {"packtype": "tar", "filters": {"uid": "keep", "mtime": "@1262304000"}}},
        },
        "context": {"fetchUrls": {"/": ["ca+file://./wares", "https://x/y.tgz"]}, "saveUrls": {"/out": "file://./o"}},
    }
    minimal = {"formula": {"inputs": {"/": WARE}, "action": {"exec": ["/bin/true"]}}}
    modern_yaml = (
        "formula:\n  inputs:\n    /: " + WARE + "\n  action:\n    exec: [/bin/sh, -c, 'echo hi']\n"
        "    env: {A: b}\n    userinfo: {uid: 1000}\n  outputs:\n    /out: {packtype: tar, filters: {uid: keep}}\n"
        "context:\n  fetchUrls:\n    /: [ca+file://./wares]\n"
    )
    legacy_yaml = (
        "inputs:\n\trootfs:\n\t\ttype: tar\n\t\tmount: /\n\t\thash: aLMH4qK1EdlPDavdhErOs0BPxqO0i6lUaeRE4DuUmnNM\n"
        "\t\tsilo: http+ca://repeatr.s3.amazonaws.com/assets/\n"
        "action:\n\tcommand: [/bin/sh, -c, echo hi]\n\tenv: {A: b}\n\tescapes: {mounts: {/x: /y}, cradle: false}\n"
        "outputs:\n\tout:\n\t\ttype: tar\n\t\tmount: /out\n\t\tfilters: [uid 10, mtime keep]\n"
    )
    legacy_json = json.dumps(
        {
            "inputs": {
                "/": {"type": "tar", "hash": "aLMH4qK1EdlPDavdhErOs0BPxqO0i6lUaeRE4DuUmnNM", "silo": "file://x"}
            },
            "action": {"command": ["/bin/true"], "policy": "governor"},
        }
    )
    return [
        json.dumps(full, indent="\t").encode(),
        json.dumps(full).encode(),
        json.dumps(minimal).encode(),
        b'{"formula": {"inputs": {"/": "' + WARE.encode() + b'",}, "action": {"exec": ["/bin/true"] "cwd": "/"},},}',
        modern_yaml.encode(),
        legacy_yaml.encode(),
        legacy_json.encode(),
    ]


def _formula_target() -> Target:
    from r2k8s.core.errors import R2k8sError
    from r2k8s.core.formula import lenient_json
    from r2k8s.core.formula.ids import raw_setup_hash
    from r2k8s.formula_files import load_formula_bytes

    def run(data: bytes, rng: random.Random) -> str:
        if rng.random() < 0.35:
            try:
                lenient_json.loads(data, source="fuzz.json")
            except R2k8sError as exc:
                return "lenient-json:" + error_label(exc)
            return "lenient-json:ok"
        try:
            loaded = load_formula_bytes(data, "fuzz.formula")
            ids = [loaded.formula_id] + ([raw_setup_hash(loaded.formula)] if loaded.kind != "legacy" else [])
        except R2k8sError as exc:
            return "load:" + error_label(exc)
        assert all(isinstance(i, str) and i for i in ids), ids
        return f"load:ok:{loaded.kind}"

    dictionary = [
        *(
            token.encode()
            for token in (
                '"formula"',
                '"inputs"',
                '"action"',
                '"exec"',
                '"env"',
                '"userinfo"',
                '"uid"',
                '"outputs"',
                '"filters"',
                '"packtype"',
                '"context"',
                '"fetchUrls"',
                '"saveUrls"',
                "command",
                "mount",
                "hash",
                "silo",
                "escapes",
                "cradle",
                "policy",
                '"tar:',
                '"mount:ro:/',
                '"keep"',
                '"@1262304000"',
                "\\u0000",
                "\\ud800",
                "\\udc00\\ud800",
                "\\",
                "&a ",
                "*a",
                "!!binary ",
                "!!python/object:os.system ",
                "<<: *a\n",
                "? ",
                "- ",
                "\t",
                "\n  ",
                "yes",
                "0644",
                "12:30",
                "1e3",
                "~",
                "null",
                "true",
                "{",
                "}",
                "[",
                "]",
                ",",
                ":",
                '"',
                "'",
                "#",
                "---\n",
                "...\n",
                "%YAML 1.1\n",
                "\r\n",
            )
        ),
        b"\xef\xbb\xbf",
        b"\xff\xfe",
        b"\xc0\xaf",
        b"\x00",
    ]
    return Target(
        "formula", _formula_seeds, run, dictionary, keep=lambda outcome: outcome.endswith(("ok", "legacy", "modern"))
    )


# -- target: the KRM function -------------------------------------------------------------------------------------


def _function_seeds() -> list[bytes]:
    import yaml

    def deployment(name: str, image: str, **container: Any) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "annotations": {"internal.config.kubernetes.io/path": f"apps/{name}.yaml"}},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": name, "image": image, **container}]},
                }
            },
        }

    def resource_list(items: list[Any], config: Any = None) -> bytes:
        document: dict[str, Any] = {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": items}
        if config is not None:
            document["functionConfig"] = config
        return yaml.safe_dump(document, sort_keys=False).encode()

    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "c"},
        "spec": {
            "formulas": {"hello": json.loads(FUNCTION_FORMULA)},
            "warehouses": {
                "mirrors": ["ca+https://m/w"],
                "rewrite": [{"from": "ca+file://./wares", "to": "ca+http://w"}],
            },
            "cache": {"type": "hostPath", "path": "/var/cache/r2k8s"},
            "fieldPaths": [{"kind": "Runner", "path": "spec/box"}],
        },
    }
    web = deployment("web", "./web.formula", env=[{"name": "A", "value": "x"}], command=["/bin/x"], args=["-v"])
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c", "namespace": "team"},
        "spec": {
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "j", "image": "formula:hello"}]}}}}
        },
    }
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {"templates": [{"name": "m", "container": {"name": "m", "image": "./web.formula"}}]},
    }
    runner = {
        "apiVersion": "x/v1",
        "kind": "Runner",
        "metadata": {"name": "r"},
        "spec": {"box": {"name": "b", "image": "./web.formula"}},
    }
    plain = deployment("plain", "nginx:1.27")
    stream = b"".join(
        b"---\n# Source: chart/templates/" + name.encode() + b".yaml\n" + yaml.safe_dump(item).encode()
        for name, item in (("web", web), ("plain", plain))
    )
    return [
        resource_list([web, plain]),
        resource_list([web, cron, workflow, runner], config),
        resource_list(
            [plain],
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f"}, "data": {"image": "python:3.12"}},
        ),
        stream,
        yaml.safe_dump(web).encode(),
        (
            b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
            b"- apiVersion: apps/v1\n  kind: Deployment\n"
            b"  metadata: {name: a, labels: &l {app: a}}\n  spec:\n    template:\n      metadata: {labels: *l}\n"
            b"      spec:\n        containers:\n        - {name: a, image: ./web.formula} # comment\n"
        ),
    ]


FUNCTION_FORMULA = json.dumps(
    {
        "formula": {"inputs": {"/": WARE}, "action": {"exec": ["/bin/sh", "-c", "echo hi"], "env": {"G": "f"}}},
        "context": {"fetchUrls": {"/": ["ca+https://warehouse.example/wares"]}},
    }
)


def _function_target() -> Target:
    from r2k8s.krm.function import run as run_function

    def prepare() -> None:
        package = Path(tempfile.mkdtemp(prefix="r2k8s-fuzz-function-"))
        (package / "web.formula").write_text(FUNCTION_FORMULA)
        (package / "apps").mkdir()
        (package / "apps" / "web.formula").write_text(FUNCTION_FORMULA)
        os.chdir(package)

    def run(data: bytes, rng: random.Random) -> str:
        text = data.decode("utf-8", errors="replace")  # r2k8s fn refuses other bytes before the function runs
        outcome = run_function(text, explain=rng.random() < 0.1)
        assert outcome.exit_code in (0, 1), f"exit code {outcome.exit_code}"
        if outcome.exit_code == 0:
            assert outcome.output.strip(), "exit 0 with empty output"
            return "ok"
        assert outcome.messages and all(m.strip() for m in outcome.messages), "exit 1 without a message"
        return "refused"

    dictionary = [
        token.encode()
        for token in (
            "image: ./web.formula",
            "image: formula:hello",
            "image: ./apps/web.formula",
            "image: ../outside.formula",
            "containers:",
            "initContainers:",
            "- name: x\n",
            "env:",
            "command:",
            "args:",
            "volumeMounts:",
            "workingDir:",
            "metadata:",
            "namespace:",
            "annotations:",
            "internal.config.kubernetes.io/path",
            "config.kubernetes.io/local-config: 'true'",
            "items:",
            "functionConfig:",
            "kind: ResourceList",
            "kind: Kptfile",
            "---\n",
            "&a ",
            "*a",
            "<<: *a",
            "!!binary ",
            "!!python/object/apply:os.system ['true']",
            "? ",
            "- ",
            ": ",
            "{",
            "}",
            "[",
            "]",
            '"\\ud800"',
            '"\\0"',
            "\t",
            "\n",
            "\r\n",
            "  ",
            "#",
            "yes",
            "0644",
            "~",
            "5",
        )
    ]
    return Target("function", _function_seeds, run, dictionary, prepare=prepare, keep=lambda outcome: outcome == "ok")


TARGETS: dict[str, Callable[[], Target]] = {
    "tar": _tar_target,
    "formula": _formula_target,
    "function": _function_target,
}


def report_to_pytest(request: Any, report: FuzzReport) -> None:
    """Make the count visible whatever pytest captures: a line on the terminal, a recorded property (JUnit XML:
    ``fuzz_executions``, ``fuzz_seconds``) and the same line on stderr, both written with capture suspended."""
    line = report.summary()
    for key, value in (("fuzz_executions", report.executions), ("fuzz_seconds", round(report.seconds, 1))):
        request.node.user_properties.append((key, value))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    suspended = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
    with suspended:  # written past pytest's capture, with or without -s
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(line)
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


LONG_RUN = 100_000
"""Executions per target in the long fuzz job (``.ci/fuzz``, ``R2K8S_FUZZ_LONG=1``): what issue 12 asks for."""
QUICK_RUN = 2_000
"""Executions per target in every other run: the same fuzzer and seed, so the long job's first inputs are
tried on every CI run (two thousand function runs take about half a minute on two cores)."""


def executions_wanted() -> int:
    """How many inputs to try: ``R2K8S_FUZZ_EXECUTIONS`` if set; else :data:`LONG_RUN` in the long fuzz job
    (``R2K8S_FUZZ_LONG=1``); else :data:`QUICK_RUN`, which keeps the README's test command within CI's time."""
    if "R2K8S_FUZZ_EXECUTIONS" in os.environ:
        return int(os.environ["R2K8S_FUZZ_EXECUTIONS"])
    return LONG_RUN if os.environ.get("R2K8S_FUZZ_LONG") == "1" else QUICK_RUN


def fuzz_seed() -> int:
    return int(os.environ.get("R2K8S_FUZZ_SEED", "12"))


def fuzz_workers() -> int:
    return max(1, min(int(os.environ.get("R2K8S_FUZZ_WORKERS", os.cpu_count() or 1)), 8))
