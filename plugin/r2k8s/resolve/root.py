"""The root of a resolve: what formula paths must stay inside, and what the record's paths are relative to.

The current directory when every local source is inside it (the usual case: ``r2k8s deploy.yaml`` run in the
package), else the deepest folder holding every local source (``r2k8s /srv/app/deploy.yaml`` run anywhere
gives ``/srv/app``: the same record wherever it is run from). A file counts by its folder, a folder as
itself, stdin as the current directory; URLs do not count (their relative formula paths are refused).
``--root DIR`` overrides it, as ``spec.root`` does the function's: a package whose formulas live beside
it, not under it (``../formulas/web.formula``), needs one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from r2k8s.krm.manifests import STDIN, is_url

__all__ = ["choose_root"]


def choose_root(given: Sequence[str], cwd: Path | None = None) -> Path:
    """The root for the sources ``given`` (as on the command line), absolute."""
    here = Path(os.path.normpath(cwd or Path.cwd()))
    folders = []
    for word in given:
        if is_url(word):
            continue
        if word == STDIN:
            folders.append(here)
            continue
        path = Path(os.path.normpath(here / word))
        folders.append(path if path.is_dir() else path.parent)
    if not folders or all(folder == here or here in folder.parents for folder in folders):
        return here
    return Path(os.path.commonpath(folders))
