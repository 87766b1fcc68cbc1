"""The service agent for real: ``fetch`` and ``serve`` in simulated containers of a stock Python image.

No cluster and no mocks. A session fixture builds a small "python image"
root directory from the interpreter running the tests (the binary, the shared
libraries ``ldd`` names, the standard library's sources, laid out like the
official images under ``/usr/local``). Each container gets its own copy of it
(hard links) and is started the way a runtime starts one: a child in new
mount and PID namespaces, a fresh ``/proc``, a ``/dev`` tmpfs with device
nodes and a bind-mounted ``/dev/termination-log``, bind-mounted
``/etc/hosts`` and ``/etc/resolv.conf``, the agent zipapp read-only at
``/r2k8s/agent`` and the ware cache ("emptyDir") at ``/r2k8s/cache``; then
``pivot_root`` and exec ``python3 /r2k8s/agent/r2k8s-agent.pyz fetch|serve``
with the environment the KRM function writes. Wares come from a real HTTP
warehouse on loopback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from busybox_rootfs import BUSYBOX, needs_busybox
from loopback_http import LoopbackWarehouse, serve
from repo import FIXTURES, needs_shared

from r2k8s.agent_bundle import agent_digest, agent_zipapp
from r2k8s.core.agent.contract import (
    AGENT_ZIPAPP,
    COMPILED_AGENT,
    SERVICE_SPEC_ENV,
    STAGE_RUNTIME_FLAG,
    runtime_argv,
)
from r2k8s.core.agent.service_spec import ServiceSpec
from r2k8s.core.formula.defaults import apply_defaults
from r2k8s.core.formula.ids import formula_id
from r2k8s.core.formula.model import Action, Formula, FormulaContext, Userinfo
from r2k8s.core.ware.filters import FLATTEN
from r2k8s.core.ware.pack import pack_tree
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.cache import WareCache
from r2k8s.krm.config import PYTHON_IMAGE_ENV

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="simulating containers needs root (mount and PID namespaces, bind mounts, pivot_root, setuid)",
)

BUSYBASH = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"
BUSYBASH_TGZ = FIXTURES / "repeatr" / "fixtures" / "busybash.tgz"
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
IMAGE_STDLIB = f"/usr/local/lib/python{VERSION}"
IMAGE_ENV = {  # what docker.io/library/python:3.x-slim sets
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "GPG_KEY": "A035C8C19219BA821ECEA86B64E628F8D684696D",
    "PYTHON_VERSION": sys.version.split()[0],
}
EMPTY_IMAGE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}  # the pause image's
HOSTS = "127.0.0.1\tlocalhost\n10.1.2.3\tweb-0  # the kubelet's hosts file\n"
RESOLV = "nameserver 10.96.0.10\nsearch default.svc.cluster.local\n"
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"  # every pod has it, unless opted out
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))

# Parts of the standard library the agent never uses (nor would a user of the image miss them here).
STDLIB_SKIP = {
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "lib2to3",
    "ensurepip",
    "pydoc_data",
    "distutils",
    "site-packages",
    "dist-packages",
    "sqlite3",
    "curses",
    "dbm",
    "xmlrpc",
    "venv",
    "wsgiref",
    "__pycache__",
    "unittest",
    "turtle.py",
    "pydoc.py",
}
DYNLOAD_SKIP = (
    "_test",
    "_tkinter",
    "_curses",
    "readline",
    "_sqlite3",
    "_dbm",
    "_gdbm",
    "_ctypes_test",
    "xx",
    "_xxtestfuzz",
    "nis",
    "ossaudiodev",
    "_crypt",
)


# -- the python image -------------------------------------------------------------------------------


def _libraries(binaries: list[Path]) -> set[Path]:
    """The shared libraries (and the loader) ``ldd`` resolves for ``binaries``, at the paths the loader uses."""
    out = subprocess.run(["ldd", *map(str, binaries)], capture_output=True, text=True).stdout
    found = set()
    for line in out.splitlines():
        words = line.split()
        if "=>" in words and len(words) >= 3 and words[2].startswith("/"):
            found.add(Path(words[2]))
        elif words and words[0].startswith("/") and not words[0].endswith(":"):
            found.add(Path(words[0]))
    return found


def build_python_image(image: Path) -> None:
    """``/usr/local/bin/python3`` and its ``/usr/local/lib/python3.X`` from the running interpreter, plus libraries.

    About 30 MB: the standard library's sources without its tests, GUI and
    packaging parts, and the ELF files stripped when ``strip`` is there (pyenv
    builds keep their debugging symbols: 23 MB of libpython alone).
    """
    exe = Path(os.path.realpath(sys.executable))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    dynload = Path(sysconfig.get_config_var("DESTSHARED") or stdlib / "lib-dynload")
    lib = image / IMAGE_STDLIB.lstrip("/")
    binaries = {exe: image / "usr" / "local" / "bin" / f"python{VERSION}"}
    binaries |= {
        module: lib / "lib-dynload" / module.name
        for module in sorted(dynload.glob("*.so"))
        if not module.name.startswith(DYNLOAD_SKIP)
    }
    binaries |= {library: image / library.relative_to("/") for library in _libraries(list(binaries))}
    for source, target in binaries.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copy2(source.resolve(), target)
    if shutil.which("strip"):
        subprocess.run(["strip", "--strip-unneeded", *map(str, binaries.values())], capture_output=True)
    (image / "usr" / "local" / "bin" / "python3").symlink_to(f"python{VERSION}")
    for directory, dirs, files in os.walk(stdlib):
        here = Path(directory)
        dirs[:] = sorted(
            d for d in dirs if d not in STDLIB_SKIP and not d.startswith("config-") and here / d != dynload
        )
        (lib / here.relative_to(stdlib)).mkdir(parents=True, exist_ok=True)
        for name in files:
            if name.endswith(".py") and (here != stdlib or name not in STDLIB_SKIP):
                shutil.copy2(here / name, lib / here.relative_to(stdlib) / name)
    (image / "etc").mkdir(exist_ok=True)
    if Path("/etc/ld.so.cache").is_file():
        shutil.copy2("/etc/ld.so.cache", image / "etc" / "ld.so.cache")
    for name in ("hosts", "resolv.conf", "hostname"):
        (image / "etc" / name).write_text("# the image's own; a runtime mounts over it\n")
    (image / "tmp").mkdir()
    os.chmod(image / "tmp", 0o1777)
    # Compile the stdlib modules the agent imports once, as the image build would have.
    (image / "warmup.pyz").write_bytes(agent_zipapp())
    warm = (
        "import sys; sys.path.insert(0, '/warmup.pyz'); import r2k8s.core.agent.service as a;"
        " [__import__(m) for m in a.REQUIRED_MODULES]; import r2k8s.core.warehouse, urllib.request, tarfile"
    )
    done = subprocess.run(
        ["chroot", str(image), "/usr/local/bin/python3", "-c", warm],
        capture_output=True,
        text=True,
        env={"PATH": IMAGE_ENV["PATH"], "LANG": "C.UTF-8"},
    )
    assert done.returncode == 0, f"the python image does not run python:\n{done.stderr}"
    (image / "warmup.pyz").unlink()


@pytest.fixture(scope="session")
def python_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ldd") is None or shutil.which("chroot") is None:
        pytest.skip("building the python image needs ldd (libc-bin) and chroot (coreutils)")
    image = tmp_path_factory.mktemp("python-image") / "rootfs"
    image.mkdir()
    build_python_image(image)
    return image


# -- simulated containers ---------------------------------------------------------------------------

# Runs as root on the host: new mount and PID namespaces, the mounts a runtime makes, pivot_root, exec.
# The mount targets are made in the root before it runs anything, so no symlink there can lead out of it.
LAUNCHER = r"""
import json, os, stat, sys
from r2k8s.core.run import linux

config = json.loads(sys.argv[1])
linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWPID)
pid = os.fork()
if pid:
    with open(config["pidfile"] + ".new", "w") as handle:
        handle.write(str(pid))
    os.rename(config["pidfile"] + ".new", config["pidfile"])
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)
try:
    linux.set_parent_death_signal(9)
    root = config["root"]
    at = lambda path: os.path.join(root, path.lstrip("/"))
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    linux.mount(root, root, None, linux.MS_BIND | linux.MS_REC)
    os.makedirs(at("/proc"), exist_ok=True)
    linux.mount("proc", at("/proc"), "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    os.makedirs(at("/dev"), exist_ok=True)
    linux.mount("tmpfs", at("/dev"), "tmpfs", linux.MS_NOSUID | linux.MS_STRICTATIME, "mode=755,size=1m")
    for name, major, minor in config["devices"]:
        os.mknod(at("/dev/" + name), 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(at("/dev/" + name), 0o666)
    for source, target, readonly in config["binds"]:
        if os.path.isdir(source):
            os.makedirs(at(target), exist_ok=True)
        else:
            os.makedirs(os.path.dirname(at(target)), exist_ok=True)
            if not os.path.exists(at(target)):
                open(at(target), "w").close()
        linux.mount(source, at(target), None, linux.MS_BIND)
        if readonly:
            linux.mount(None, at(target), None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
    os.chdir(root)
    linux.pivot_root(".", ".")
    linux.umount2(".", linux.MNT_DETACH)
    os.chdir("/")
    os.execve(config["argv"][0], config["argv"], config["env"])
except BaseException as exc:
    os.write(2, f"simulated runtime: {exc!r}\n".encode())
    os._exit(250)
"""


@dataclasses.dataclass
class Pod:
    """What one pod shares between its containers: the ware cache, the agent volume, the kubelet's files."""

    dir: Path
    image: Path

    def __post_init__(self) -> None:
        (self.dir / "agent").mkdir(parents=True)
        (self.dir / "agent" / AGENT_ZIPAPP).write_bytes(agent_zipapp())
        (self.dir / "cache").mkdir()
        (self.dir / "hosts").write_text(HOSTS)
        (self.dir / "resolv.conf").write_text(RESOLV)
        (self.dir / "hostname").write_text("web-0\n")
        (self.dir / "serviceaccount").mkdir()
        (self.dir / "serviceaccount" / "token").write_text("the-service-account-token\n")
        self.started: list[Container] = []

    @property
    def cache(self) -> Path:
        return self.dir / "cache"

    def container(
        self,
        command: str,
        env: Mapping[str, str],
        volumes: Mapping[str, Path] | None = None,
        *,
        args: tuple[str, ...] = (),
        empty: Path | None = None,
    ) -> Container:
        """A container of the python image running ``python3 /r2k8s/agent/r2k8s-agent.pyz COMMAND ARGS``.

        ``volumes``: more read-only volume mounts (mount path -> host directory), as a ConfigMap's. ``empty``:
        the container is of that image instead and runs the agent with the interpreter ``fetch --stage-runtime``
        staged in the cache, which it mounts read-only (what the KRM function writes).
        """
        name = f"{command}-{len(self.started) + 1}"
        root = self.dir / name / "rootfs"
        shutil.copytree(empty or self.image, root, symlinks=True, copy_function=os.link)  # the runtime's copy
        log = self.dir / name / "termination-log"
        log.touch()
        binds = [
            (self.dir / "agent", "/r2k8s/agent", True),
            (self.dir / "cache", "/r2k8s/cache", empty is not None),
            (self.dir / "hosts", "/etc/hosts", False),
            (self.dir / "resolv.conf", "/etc/resolv.conf", False),
            (self.dir / "hostname", "/etc/hostname", False),
            (log, "/dev/termination-log", False),
            (self.dir / "serviceaccount", SERVICE_ACCOUNT, True),
            *((source, target, True) for target, source in (volumes or {}).items()),
        ]
        config = {
            "root": str(root),
            "pidfile": str(self.dir / name / "pid"),
            "devices": DEVICES,
            "binds": [(str(source), target, readonly) for source, target, readonly in binds],
            "argv": runtime_argv(agent_digest(), command, *args)
            if empty
            else ["/usr/local/bin/python3", f"/r2k8s/agent/{AGENT_ZIPAPP}", command, *args],
            "env": {**(EMPTY_IMAGE_ENV if empty else IMAGE_ENV), **env},  # the container's env overrides the image's
        }
        container = Container(root, log, self.dir / name / "pid", [sys.executable, "-c", LAUNCHER, json.dumps(config)])
        self.started.append(container)
        return container

    def stop(self) -> None:
        """Kill what a failed test left running (the launcher's death SIGKILLs the container's PID 1)."""
        for container in self.started:
            if container.process is not None and container.process.poll() is None:
                container.process.kill()
                container.process.communicate()


@dataclasses.dataclass
class Container:
    root: Path
    termination_log: Path
    pidfile: Path
    argv: list[str]
    process: subprocess.Popen[str] | None = None

    def start(self) -> Container:
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def run(self, timeout: float = 30) -> Exited:
        self.start()
        return self.wait(timeout)

    def wait(self, timeout: float = 30) -> Exited:
        assert self.process is not None
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()  # the container's PID 1 has the launcher's death as its SIGKILL
            stdout, stderr = self.process.communicate()
            pytest.fail(f"the container did not exit within {timeout}s:\n{stderr}")
        return Exited(self.process.returncode, stdout, stderr, self.termination_log.read_text())

    def pid(self, timeout: float = 10) -> int:
        """The host PID of the container's PID 1 (the agent)."""
        deadline = time.monotonic() + timeout
        while not self.pidfile.exists():
            assert time.monotonic() < deadline, "the container did not start"
            time.sleep(0.02)
        return int(self.pidfile.read_text())

    def wait_for(self, path: str, timeout: float = 20) -> str:
        """Wait for the action to write ``path`` (seen from the host, in the container's root)."""
        target = self.root / path.lstrip("/")
        deadline = time.monotonic() + timeout
        while not target.exists() or not target.read_text().endswith("\n"):
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the action never wrote {path}:\n{self.wait(5).stderr}")
            time.sleep(0.02)
        return target.read_text()


@dataclasses.dataclass
class Exited:
    code: int
    stdout: str
    stderr: str
    termination_log: str


@pytest.fixture(scope="session")
def empty_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pause image's root: one static binary, nothing else (what a formula container starts from)."""
    image = tmp_path_factory.mktemp("empty-image") / "rootfs"
    image.mkdir()
    (image / "pause").write_bytes(b"\x7fELF not run here\n")
    (image / "pause").chmod(0o755)
    return image


@pytest.fixture
def pod(tmp_path: Path, python_image: Path) -> Iterator[Pod]:
    pod = Pod(tmp_path / "pod", python_image)
    yield pod
    pod.stop()


# -- wares and formulas -----------------------------------------------------------------------------

APPLETS = ("sh", "cat", "echo", "env", "id", "ls", "pwd", "sleep", "test", "grep", "sort", "tr", "wc")


@dataclasses.dataclass(frozen=True)
class Ware:
    id: str
    url: str
    paths: frozenset[str]
    """Every path in the ware, relative (``etc/motd``)."""

    def children(self, directory: str) -> set[str]:
        prefix = directory.strip("/") + "/" if directory.strip("/") else ""
        return {path[len(prefix) :].split("/")[0] for path in self.paths if path.startswith(prefix) and path != prefix}


@dataclasses.dataclass
class Warehouse:
    http: LoopbackWarehouse
    wares: dict[str, Ware]


def _ca_path(root: Path, ware: str) -> Path:
    hash_ = ware.split(":", 1)[1]
    return root / hash_[:3] / hash_[3:6] / hash_


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """An HTTP warehouse on loopback with a tiny busybox ware packed by r2k8s itself, and busybash when it exists."""
    base = tmp_path_factory.mktemp("warehouse")
    root = base / "http"
    root.mkdir()
    with serve(root) as http:
        wares = {}
        if BUSYBOX.is_file():
            tree = base / "tiny"
            (tree / "bin").mkdir(parents=True)
            shutil.copy2(BUSYBOX, tree / "bin" / "busybox")
            for applet in APPLETS:
                (tree / "bin" / applet).symlink_to("busybox")
            (tree / "etc").mkdir()
            (tree / "etc" / "hosts").write_text("# the ware's hosts file: the runtime's must win\n")
            (tree / "etc" / "motd").write_text("hello from the ware\n")
            tgz = base / "tiny.tgz"
            with tgz.open("wb") as out:
                ware = str(pack_tree(tree, FLATTEN, out))
            _ca_path(root, ware).parent.mkdir(parents=True)
            shutil.copy(tgz, _ca_path(root, ware))
            shutil.copy(tgz, root / "tiny.tgz")
            paths = frozenset(str(path.relative_to(tree)) for path in tree.rglob("*"))
            wares["tiny"] = Ware(ware, http.ca_url(), paths)
        if BUSYBASH_TGZ.is_file():
            _ca_path(root, BUSYBASH).parent.mkdir(parents=True)
            shutil.copy(BUSYBASH_TGZ, _ca_path(root, BUSYBASH))
            listing = subprocess.run(["tar", "tzf", str(BUSYBASH_TGZ)], capture_output=True, text=True).stdout
            paths = frozenset(name.strip("/")[2:] for name in listing.split() if name.strip("/") != ".")  # ./etc/motd
            wares["busybash"] = Ware(BUSYBASH, http.ca_url(), paths)
        yield Warehouse(http, wares)


def ware_for(warehouse: Warehouse, name: str) -> Ware:
    if name not in warehouse.wares:
        pytest.skip(
            f"no {name} ware: needs {BUSYBOX} (busybox-static)"
            if name == "tiny"
            else f"no {name} ware: needs the upstream fixtures at {BUSYBASH_TGZ}"
        )
    return warehouse.wares[name]


WARES = [pytest.param("tiny", marks=needs_busybox), pytest.param("busybash", marks=needs_shared)]
"""A ware r2k8s packs itself from the host's static busybox (no ../shared needed), and repeatr's busybash."""


USER_ENV = {"GREETING": "hello from the manifest", "LANG": "de_DE.UTF-8"}
"""The container's own ``env``: LANG is also a python image variable, but the manifest set it, so it is kept."""
SERVICE_LINKS = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "WEB_SERVICE_PORT": "8080"}


def service_spec(
    ware: Ware, action: Action, *, url: str | None = None, argv: tuple[str, ...] | None = None, cwd: str | None = None
) -> ServiceSpec:
    """The spec the KRM function writes for a container whose image is this formula (see krm/rewrite.py)."""
    formula = Formula(inputs={"/": WareID.parse(ware.id)}, action=action)
    env_names = set(USER_ENV) | set(apply_defaults(formula).action.env or {})
    return ServiceSpec(
        formula=formula,
        context=FormulaContext(fetch_urls={"/": (url or ware.url,)}),
        formula_id=formula_id(formula),
        argv=argv,
        cwd=cwd,
        keep_env=tuple(sorted(env_names)),
        drop_env=PYTHON_IMAGE_ENV,
    )


def fetch_env(spec: ServiceSpec) -> dict[str, str]:
    return {SERVICE_SPEC_ENV: spec.to_json()}


def serve_env(spec: ServiceSpec) -> dict[str, str]:
    """The main container's env: the formula's (with repeatr's defaults), the user's, service links, the spec."""
    return {
        **(apply_defaults(spec.formula).action.env or {}),
        **USER_ENV,
        **SERVICE_LINKS,
        SERVICE_SPEC_ENV: spec.to_json(),
    }


def fetch(pod: Pod, spec: ServiceSpec) -> Exited:
    exited = pod.container("fetch", fetch_env(spec)).run()
    assert exited.code == 0, exited.stderr
    return exited


def sh(script: str, **action: object) -> Action:
    return Action(exec=("/bin/sh", "-c", script), **action)


# -- the tests --------------------------------------------------------------------------------------

PROBE = (
    "echo uid=$(id -u) gid=$(id -g) groups=$(id -G) cwd=$(pwd) pid=$$ ppid=$PPID;"
    " echo root=$(ls -A / | sort | tr '\\n' ' '); echo etc=$(ls -A /etc | sort | tr '\\n' ' ');"
    " echo r2k8s=$(ls -A /r2k8s | sort | tr '\\n' ' ');"
    f" test -e {IMAGE_STDLIB} && echo python-stdlib=present || echo python-stdlib=gone;"
    " test -e /usr/local/bin/python3 && echo python3=present || echo python3=gone;"
    " echo hosts=$(grep -c kubelet /etc/hosts) resolv=$(grep -c cluster.local /etc/resolv.conf);"
    " echo writable=$(echo x > ./probe && echo yes); echo var=$(ls -A /var | sort | tr '\\n' ' ');"
    f" echo token=$(cat {SERVICE_ACCOUNT}/token) config=$(cat config/app.conf);"
    " grep -E '^Sig(Ign|Blk):' /proc/self/status | tr -d '\\t';"
    " echo fds=$(ls /proc/self/fd | sort | tr '\\n' ' '); echo --env--; env"
)


@pytest.mark.parametrize("name", WARES)
def test_fetch_then_serve_runs_the_formula_in_place_of_the_image(pod: Pod, warehouse: Warehouse, name: str) -> None:
    ware = ware_for(warehouse, name)
    action = sh(PROBE, cwd="/srv/app", env={"MODE": "production"}, userinfo=Userinfo(uid=1234, gid=2345))
    spec = service_spec(ware, action)
    config = pod.dir / "configmap"
    config.mkdir()
    (config / "app.conf").write_text("listen=8080\n")
    fetched = fetch(pod, spec)
    assert "1 input(s) verified and cached" in fetched.stderr
    assert fetched.termination_log == ""
    assert WareCache(pod.cache).has(ware.id)

    server = pod.container("serve", serve_env(spec), volumes={"/srv/app/config": config})
    exited = server.run()
    assert exited.code == 0, exited.stderr
    out, env_text = exited.stdout.split("--env--\n")
    lines = dict(line.partition("=")[::2] for line in out.splitlines())
    assert "uid=1234 gid=2345 groups=2345 cwd=/srv/app pid=2 ppid=1" in out
    mounts_and_cradle = {"proc", "dev", "etc", "r2k8s", "var", "srv", "home", "tmp"}
    assert set(lines["root"].split()) == ware.children("/") | mounts_and_cradle
    assert set(lines["etc"].split()) == ware.children("/etc") | {"hosts", "resolv.conf", "hostname"}  # no ld.so.cache
    assert set(lines["var"].split()) == ware.children("/var") | {"run"}  # run holds the service account's mount
    assert "token=the-service-account-token config=listen=8080" in out
    assert lines["r2k8s"].split() == ["agent", "cache"]
    assert "python-stdlib=gone" in out and "python3=gone" in out
    assert "hosts=1 resolv=1" in out and "writable=yes" in out
    assert "SigBlk:0000000000000000" in out and "SigIgn:0000000000000000" in out  # python's SIGPIPE ignore is undone
    assert lines["fds"].split() == ["0", "1", "2", "3"]  # stdio, and ls's own directory: nothing of the agent's
    env = dict(line.split("=", 1) for line in env_text.splitlines() if "=" in line)
    assert env["MODE"] == "production" and env["GREETING"] == USER_ENV["GREETING"]
    assert env["LANG"] == USER_ENV["LANG"]
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert (env["HOME"], env["USER"]) == ("/home/reuser", "reuser")
    assert env["PATH"] == apply_defaults(spec.formula).action.env["PATH"]
    assert not {"GPG_KEY", "PYTHON_VERSION", SERVICE_SPEC_ENV} & set(env)


@pytest.mark.parametrize("name", WARES)
def test_the_formula_container_starts_from_an_empty_image_with_the_interpreter_fetch_staged(
    pod: Pod, warehouse: Warehouse, name: str, empty_image: Path
) -> None:
    ware = ware_for(warehouse, name)
    spec = service_spec(ware, sh(PROBE.replace(" config=$(cat config/app.conf)", ""), cwd="/srv/app"))
    fetched = pod.container("fetch", fetch_env(spec), args=(STAGE_RUNTIME_FLAG,)).run()
    assert fetched.code == 0, fetched.stderr
    runtime = pod.cache / "runtime" / f"agent-{agent_digest()}"
    assert (runtime / "ld.so").is_file() and (runtime / "bin" / "python3").is_file()
    staged = {p.name for p in (runtime / "lib").rglob("*.py")}
    assert {"os.py", "json", "tarfile.py"} & staged == {"os.py"}  # only what serve imports: no tar reader, no json
    # the agent's modules, compiled: every later agent start imports them instead of compiling the zip's
    compiled = runtime / COMPILED_AGENT / "r2k8s" / "core" / "agent"
    assert (compiled / "service.py").is_file() and list((compiled / "__pycache__").glob("service.*.pyc"))
    assert _timings(fetched.stderr)["modules"] == f"/r2k8s/agent/{AGENT_ZIPAPP}"
    # staged once: a second pod on a node cache reuses it, and imports the compiled modules
    again = pod.container("fetch", fetch_env(spec), args=(STAGE_RUNTIME_FLAG,)).run()
    assert again.code == 0 and "staged the agent's interpreter" not in again.stderr
    assert "staged the agent's interpreter" in fetched.stderr
    assert _timings(again.stderr)["modules"] == f"/r2k8s/cache/runtime/agent-{agent_digest()}/{COMPILED_AGENT}"

    exited = pod.container("serve", serve_env(spec), empty=empty_image).run()
    assert exited.code == 0, exited.stderr
    out = exited.stdout.split("--env--\n")[0]
    lines = dict(line.partition("=")[::2] for line in out.splitlines())
    assert set(lines["root"].split()) == ware.children("/") | {
        "proc",
        "dev",
        "etc",
        "r2k8s",
        "var",
        "srv",
        "home",
        "tmp",
    }
    assert "pause" not in lines["root"].split()  # the empty image's one file went too
    assert "cleared the image's root filesystem (1 entries" in exited.stderr
    assert _timings(exited.stderr)["modules"] == f"/r2k8s/cache/runtime/agent-{agent_digest()}/{COMPILED_AGENT}"


def _timings(stderr: str) -> dict[str, object]:
    """The agent's timings line (:mod:`r2k8s.core.agent.timings`)."""
    line = next(line for line in stderr.splitlines() if line.startswith("r2k8s: timings "))
    marks: dict[str, object] = json.loads(line[len("r2k8s: timings ") :])
    return marks


@needs_busybox
def test_fetch_of_a_ware_that_does_not_hash_to_its_id_fails_the_init_container(pod: Pod, warehouse: Warehouse) -> None:
    tiny = ware_for(warehouse, "tiny")
    claimed = dataclasses.replace(tiny, id=BUSYBASH)  # the formula names busybash; the URL serves tiny
    spec = service_spec(claimed, sh("true"), url=warehouse.http.url("/tiny.tgz"))
    exited = pod.container("fetch", fetch_env(spec)).run()
    assert exited.code == 7, exited.stderr  # rio-hash-mismatch
    message = exited.stderr.strip().splitlines()[-1]
    assert message.startswith('r2k8s: input "/" (' + BUSYBASH + "): ")
    assert f"hash mismatch: expected {BUSYBASH}, the data hashes to {tiny.id}" in message
    assert exited.termination_log == message  # what `kubectl describe pod` shows for the init container
    assert not WareCache(pod.cache).has(BUSYBASH)
    leftovers = sorted(str(p.relative_to(pod.cache)) for p in pod.cache.rglob("*") if not p.is_dir())
    assert leftovers == []


@needs_busybox
def test_serve_without_a_prior_fetch_says_the_cache_lacks_the_ware(pod: Pod, warehouse: Warehouse) -> None:
    tiny = ware_for(warehouse, "tiny")
    spec = service_spec(tiny, sh("echo should not run"))
    server = pod.container("serve", serve_env(spec))
    exited = server.run()
    assert exited.code == 9, exited.stderr  # rio-cache-problem
    expected = (
        f'r2k8s: input "/" ({tiny.id}) is not in the ware cache at /r2k8s/cache: did the fetch init container run?'
    )
    assert exited.stderr.strip() == expected and exited.termination_log == expected
    assert exited.stdout == ""
    assert (server.root / IMAGE_STDLIB.lstrip("/") / "os.py").is_file()  # nothing was taken over


@needs_busybox
def test_serve_exits_with_the_actions_status_and_reaps_orphans(pod: Pod, warehouse: Warehouse) -> None:
    tiny = ware_for(warehouse, "tiny")
    zombies = "$(cat /proc/[0-9]*/stat | grep -c ') Z ')"
    orphan = (
        "(sh -c 'sleep 0.1; echo > /tmp/orphan-exits' &); while [ ! -e /tmp/orphan-exits ]; do sleep 0.05; done;"
        f" i=0; while [ {zombies} != 0 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done;"
        f" echo zombies={zombies}"
    )  # a zombie left unreaped for 5 s would still be counted
    spec = service_spec(tiny, sh(f"{orphan}; echo failing >&2; exit 3"))
    fetch(pod, spec)
    exited = pod.container("serve", serve_env(spec)).run()
    assert exited.code == 3
    assert exited.stderr.splitlines()[-1] == "failing"
    assert exited.stdout == "zombies=0\n"  # the orphaned sleep was re-parented to the agent, which reaped it


@needs_busybox
def test_run_fetches_and_serves_the_containers_own_command_in_its_working_dir(pod: Pod, warehouse: Warehouse) -> None:
    """``run`` (fetch and serve in one container, for Argo and Tekton) with ``command``/``args`` and ``workingDir``."""
    tiny = ware_for(warehouse, "tiny")
    argv = ("sh", "-c", "echo $0 in $(pwd) as $(id -u):$(id -g)", "named")  # `sh` is looked up on the formula's PATH
    spec = service_spec(tiny, sh("echo the formula's exec must not run; exit 1"), argv=argv, cwd="/data")
    exited = pod.container("run", serve_env(spec)).run()
    assert exited.code == 0, exited.stderr
    assert exited.stdout == "named in /data as 1000:1000\n"
    assert "1 input(s) verified and cached" in exited.stderr


TRAP = "trap 'echo TERM > /task/trapped; exit 42' TERM; sleep 1000 & echo ready > /task/ready; wait"


@needs_busybox
@pytest.mark.parametrize(
    ("script", "status"),
    [(TRAP, 42), ("echo ready > /task/ready; exec sleep 1000", 128 + 15)],
    ids=["trapped", "default"],
)
def test_serve_forwards_sigterm_to_the_action(pod: Pod, warehouse: Warehouse, script: str, status: int) -> None:
    tiny = ware_for(warehouse, "tiny")
    spec = service_spec(tiny, sh(script))
    fetch(pod, spec)
    server = pod.container("serve", serve_env(spec)).start()
    server.wait_for("/task/ready")
    os.kill(server.pid(), signal.SIGTERM)  # what the kubelet does to the container's PID 1 on deletion
    exited = server.wait(timeout=15)
    assert exited.code == status, exited.stderr
    if status == 42:
        assert (server.root / "task" / "trapped").read_text() == "TERM\n"


@needs_busybox
def test_sigterm_cancels_a_fetch_under_way(pod: Pod, warehouse: Warehouse) -> None:
    """Deleting a pod while its init container downloads must not wait out the grace period."""
    tiny = ware_for(warehouse, "tiny")
    spec = service_spec(tiny, sh("true"))
    requests = len(warehouse.http.requests)
    warehouse.http.body_delay = 0.5  # 64 KiB every half second: the transfer takes many seconds
    try:
        fetching = pod.container("fetch", fetch_env(spec)).start()
        deadline = time.monotonic() + 20
        while len(warehouse.http.requests) == requests:
            assert time.monotonic() < deadline and fetching.process is not None and fetching.process.poll() is None, (
                "the fetch never started"
            )
            time.sleep(0.02)
        time.sleep(0.3)
        started = time.monotonic()
        os.kill(fetching.pid(), signal.SIGTERM)
        exited = fetching.wait(timeout=20)
        assert time.monotonic() - started < 3
    finally:
        warehouse.http.body_delay = 0
    assert exited.code == 8, exited.stderr  # rio-cancelled
    assert "cancelled" in exited.termination_log
    assert not WareCache(pod.cache).has(tiny.id)


@pytest.mark.parametrize("name", WARES)
def test_a_sigterm_during_the_takeover_reaches_the_action(pod: Pod, warehouse: Warehouse, name: str) -> None:
    """Sent while the agent replaces the image's files, before the action exists: not lost, but forwarded."""
    ware = ware_for(warehouse, name)
    spec = service_spec(ware, sh("exec sleep 1000"))
    fetch(pod, spec)
    server = pod.container("serve", serve_env(spec)).start()
    assert server.process is not None and server.process.stderr is not None
    for line in server.process.stderr:
        if "cleared the image's root filesystem" in line:
            break
    os.kill(server.pid(), signal.SIGTERM)
    exited = server.wait(timeout=15)
    assert exited.code == 128 + 15, exited.stderr
