"""The zipapp's ``__main__``: which copy of r2k8s an agent imports (the compiled one in the cache, else the zip's)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from r2k8s.agent_bundle import agent_zipapp
from r2k8s.core.agent import bootstrap, contract


def test_its_names_are_the_contracts() -> None:
    """It imports nothing of r2k8s before choosing where r2k8s comes from, so it spells them itself."""
    assert bootstrap.CACHE_DIR == contract.CACHE_DIR
    assert bootstrap.RUNTIME_LINK == contract.RUNTIME_LINK
    assert bootstrap.COMPILED_AGENT == contract.COMPILED_AGENT


def test_the_zipapps_main_is_this_module_calling_main() -> None:
    main = zipfile.ZipFile(io.BytesIO(agent_zipapp())).read("__main__.py").decode()
    assert "def compiled_agent(" in main and main.endswith("raise SystemExit(main())\n")


def _zipapp(tmp_path: Path, data: bytes) -> tuple[Path, Path]:
    zipapp = tmp_path / "r2k8s-agent.pyz"
    zipapp.write_bytes(data)
    link = tmp_path / "cache" / f"{contract.RUNTIME_LINK}{hashlib.sha256(data).hexdigest()[:12]}"
    return zipapp, link


def test_the_compiled_copy_is_the_one_behind_this_zipapps_own_link(tmp_path: Path) -> None:
    zipapp, link = _zipapp(tmp_path, b"this zipapp")
    cache = str(tmp_path / "cache")
    assert bootstrap.compiled_agent(str(zipapp), cache) is None  # nothing staged: the zip's modules
    (link / contract.COMPILED_AGENT / "r2k8s").mkdir(parents=True)
    assert bootstrap.compiled_agent(str(zipapp), cache) is None  # a copy without its package is no copy
    (link / contract.COMPILED_AGENT / "r2k8s" / "__init__.py").write_text("")
    assert bootstrap.compiled_agent(str(zipapp), cache) == str(link / contract.COMPILED_AGENT)
    other, _ = _zipapp(tmp_path, b"another version's zipapp")
    assert bootstrap.compiled_agent(str(other), cache) is None  # never another version's modules
    assert bootstrap.compiled_agent(str(tmp_path / "missing.pyz"), cache) is None
