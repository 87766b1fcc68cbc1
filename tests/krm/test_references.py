"""A formula file is read exactly where the root check looked, even if a link changes in between (issue 12).

The race is made deterministic: ``os.path.realpath`` is wrapped so that, right after the check resolves the
formula's path, the package changes under it (a link re-pointed outside the root, a folder replaced by a link).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import deployment, resource_list, write_formula

from r2k8s.core.agent.contract import SERVICE_SPEC_ENV
from r2k8s.core.agent.service_spec import ServiceSpec
from r2k8s.krm.function import Outcome, Processor, run
from r2k8s.krm.io_paths import RoundTripPath


def once(text: str) -> Outcome:
    """The function over the round trip alone: one resolution of each formula path (the splice path would fall
    back on the error and resolve again, on the changed tree)."""
    return Processor(paths=(RoundTripPath,)).execute(text)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``package/`` (the root, the current directory) and ``outside/secret.formula`` beside it."""
    write_formula(tmp_path / "outside" / "secret.formula", exec_=["/bin/secret"])
    (tmp_path / "package").mkdir()
    monkeypatch.chdir(tmp_path / "package")
    return tmp_path


def after_the_check(monkeypatch: pytest.MonkeyPatch, path: Path, change: Callable[[], None]) -> list[Path]:
    """Run ``change`` once, just after ``os.path.realpath`` resolved ``path``; returns the paths it resolved."""
    real = os.path.realpath
    seen: list[Path] = []

    def racing(name: Any, *args: Any, **kwargs: Any) -> Any:
        resolved = real(name, *args, **kwargs)
        seen.append(Path(name))
        if Path(name) == path and seen.count(path) == 1:
            change()
        return resolved

    monkeypatch.setattr(os.path, "realpath", racing)
    return seen


def exec_of(output: str) -> tuple[str, ...]:
    container = yaml.safe_load(output)["items"][0]["spec"]["template"]["spec"]["containers"][0]
    spec = ServiceSpec.from_json(next(e["value"] for e in container["env"] if e["name"] == SERVICE_SPEC_ENV))
    return tuple(spec.formula.action.exec or ())


def test_a_link_re_pointed_outside_after_the_check_is_not_followed(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tree / "package"
    write_formula(package / "inside.formula", exec_=["/bin/inside"])
    link = package / "web.formula"
    link.symlink_to("inside.formula")

    def swap() -> None:
        link.unlink()
        link.symlink_to(tree / "outside" / "secret.formula")

    seen = after_the_check(monkeypatch, link, swap)
    outcome = once(resource_list([deployment()]))
    assert link in seen and link.resolve() == tree / "outside" / "secret.formula"  # the race did happen
    assert outcome.exit_code == 0, outcome.messages
    assert exec_of(outcome.output) == ("/bin/inside",)  # what was checked, not what the link says now


def test_a_folder_replaced_by_a_link_after_the_check_is_refused(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tree / "package"
    write_formula(package / "apps" / "web.formula", exec_=["/bin/inside"])
    target = package / "apps" / "web.formula"

    def swap() -> None:
        (package / "apps").rename(package / "apps-before")
        (package / "apps").symlink_to(tree / "outside")
        (tree / "outside" / "web.formula").write_bytes((tree / "outside" / "secret.formula").read_bytes())

    after_the_check(monkeypatch, target, swap)
    outcome = once(resource_list([deployment(image="./apps/web.formula")]))
    assert outcome.exit_code == 1
    (result,) = outcome.results
    assert result.field == "spec.template.spec.containers[0].image"
    assert "'apps' on its path became a symbolic link after the path was checked" in result.message
    assert "/bin/secret" not in outcome.output


def test_links_inside_the_root_still_work_and_a_fifo_does_not_stall(tree: Path) -> None:
    package = tree / "package"
    write_formula(package / "real" / "web.formula", exec_=["/bin/inside"])
    (package / "alias").symlink_to("real")
    outcome = run(resource_list([deployment(image="./alias/web.formula")]))
    assert outcome.exit_code == 0 and exec_of(outcome.output) == ("/bin/inside",), outcome.messages
    os.mkfifo(package / "fifo.formula")
    stalled = run(resource_list([deployment(image="./fifo.formula")]))
    assert stalled.exit_code == 1 and "is not a regular file" in stalled.results[0].message


@pytest.mark.parametrize("image", ["./real", "./real/", "./"])
def test_a_formula_path_naming_a_directory_is_refused_clearly(tree: Path, image: str) -> None:
    """Found by the long fuzz: a directory opened, then ``fdopen`` raised ``IsADirectoryError`` (exit 2)."""
    write_formula(tree / "package" / "real" / "web.formula")
    outcome = run(resource_list([deployment(image=image)]))
    assert outcome.exit_code == 1, outcome.messages
    (message,) = outcome.messages
    assert "Deployment/web" in message and ("not a regular file" in message or "root directory" in message), message
