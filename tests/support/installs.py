"""Installing what the tests run from inside the pytest session, so that ``python -m pytest`` alone
runs every test that ``.ci/run`` would.

``run_once`` runs an install script (``.ci/install-tools``, ``.ci/install-packages``) at most once
per session and key, shows its output live (a cold install takes minutes) and remembers how it went.
A test whose program is still missing afterwards is skipped only when installing is impossible
(``unreachable`` names the registry that does not answer, ``not_root`` says why apt cannot run);
any other failure fails the test with the script's output.

Registered as a pytest plugin from tests/conftest.py (it keeps the config to lift output capture).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

#: How many lines of a failed install's output a test failure shows.
TAIL_LINES = 40

_config: pytest.Config | None = None
_outcomes: dict[tuple[str, ...], Outcome] = {}
_lock = threading.Lock()


def pytest_configure(config: pytest.Config) -> None:
    global _config
    _config = config


def pytest_unconfigure(config: pytest.Config) -> None:
    global _config
    _config = None


@dataclass(frozen=True)
class Outcome:
    """How one install went: its command, exit status and output (stdout and stderr together)."""

    argv: tuple[str, ...]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = TAIL_LINES) -> str:
        return "\n".join(self.output.splitlines()[-lines:]) or "(no output)"

    def describe(self) -> str:
        """``ARGV exited N; the end of its output: ...`` for a failure message."""
        return f"{' '.join(self.argv)} exited {self.returncode}; the end of its output:\n{self.tail()}"


def run_once(
    key: Sequence[str], argv: Sequence[str | os.PathLike[str]], what: str, env: Mapping[str, str] | None = None
) -> Outcome:
    """Run ``argv`` the first time ``key`` is asked for in this session; later calls return that outcome.

    ``what`` says what is being installed, for the line announcing it. The scripts take their own
    locks, so two sessions installing at once wait for each other instead of racing."""
    with _lock:
        known = _outcomes.get(tuple(key))
        if known is not None:
            return known
        outcome = _run(tuple(os.fspath(part) for part in argv), what, env)
        _outcomes[tuple(key)] = outcome
        return outcome


def _run(argv: tuple[str, ...], what: str, env: Mapping[str, str] | None) -> Outcome:
    capture = _config.pluginmanager.getplugin("capturemanager") if _config is not None else None
    lines: list[str] = []
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        # On a line of its own: pytest's progress dots may be waiting for their newline.
        _say(f"\ninstalling {what}: {' '.join(argv)} (once per session; cached after the first time)")
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                env=dict(env) if env is not None else None,
            )
        except OSError as error:
            return Outcome(argv, 127, f"cannot run {argv[0]}: {error}")
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            _say(f"  {line.rstrip()}")
        returncode = process.wait()
        _say(f"{argv[0]} {'done' if returncode == 0 else f'failed (exit {returncode})'}")
    return Outcome(argv, returncode, "\n".join(lines))


def _say(line: str) -> None:
    newline = "\n" if line.startswith("\n") else ""
    print(f"{newline}[install] {line.lstrip(chr(10))}", file=sys.stderr, flush=True)


def unreachable(urls: Iterable[str], timeout: float = 10.0) -> str | None:
    """``"URL: why"`` for the first of ``urls`` that does not answer at all, or None when all answer.

    Any HTTP answer counts (a 404 means the network works); the proxies of the environment apply."""
    for url in urls:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
                pass
        except urllib.error.HTTPError:
            continue
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            return f"{url} does not answer ({reason})"
    return None


def not_root() -> bool:
    return os.geteuid() != 0


def debian_mirror() -> str:
    """The first Debian mirror in the apt sources (what ``apt-get install`` downloads from)."""
    for sources in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        try:
            text = sources.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and len(words) > 1:
                return words[1]
            if words[:1] == ["deb"]:
                urls = [word for word in words[1:] if "://" in word]
                if urls:
                    return urls[0]
    return "http://deb.debian.org/debian"
