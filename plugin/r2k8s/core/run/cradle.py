"""repeatr's "cradle": the filesystem touches that make a bare root usable by the action.

After the inputs are assembled and before the action starts, repeatr
(``executor/cradle/cradle.go`` ``TidyFilesystem``) makes the working
directory and the home directory exist and usable by the action's user, and
``/tmp`` exist with mode ``1777``. Nothing else: no ``/etc/passwd`` editing.
With ``cradle: "disable"`` it does nothing at all. Mtimes of the parents it
touches are restored, so an output packed from ``/`` stays reproducible.

The same code serves ``r2k8s run --local`` and the in-pod agent.
Standard library only.
"""

from __future__ import annotations

import os

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.model import Action, Userinfo
from r2k8s.core.run.rootfs import DirProps, keep_mtime, mkdir_usable, resolve

__all__ = ["dirprops_for_userinfo", "tidy_filesystem"]


def dirprops_for_userinfo(userinfo: Userinfo | None) -> DirProps:
    """Directories made for the job: 0755, owned by its uid:gid, mtime 2010-01-01."""
    info = userinfo or Userinfo()
    return DirProps(uid=1000 if info.uid is None else info.uid, gid=1000 if info.gid is None else info.gid)


def _invalid(what: str, exc: OSError) -> R2k8sError:
    detail = exc.strerror or str(exc)
    if exc.filename and str(exc.filename) not in detail:
        detail = f"{exc.filename}: {detail}"
    return R2k8sError(Category.JOB_INVALID, f"failed building cradle fs ({what}): {detail}")


def tidy_filesystem(root: str, action: Action) -> None:
    """Apply the cradle to the tree at ``root`` for an action that has had its defaults applied."""
    if not action.cradle_enabled:
        return
    props = dirprops_for_userinfo(action.userinfo)
    try:
        mkdir_usable(root, action.cwd, props)
    except OSError as exc:
        raise _invalid("cwd", exc) from None
    try:
        mkdir_usable(root, action.userinfo.homedir if action.userinfo else "/", props)
    except OSError as exc:
        raise _invalid("homedir", exc) from None
    try:
        _make_tmp(root)
    except OSError as exc:
        raise _invalid("tmp", exc) from None


def _make_tmp(root: str) -> None:
    """``MkdirAll(/tmp, 01777)`` then force ``chmod 01777``, keeping the mtimes of ``/`` and ``/tmp``.

    repeatr follows a ``/tmp`` symlink here; it is followed inside the root.
    """
    tmp = resolve(root, "/tmp")
    with keep_mtime(root), keep_mtime(tmp):
        missing = []
        probe = tmp
        while not os.path.lexists(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        for path in reversed(missing):
            with keep_mtime(os.path.dirname(path)):
                os.mkdir(path, 0o1777)  # the umask applies, as in Go's MkdirAll
        if not os.path.isdir(tmp):
            raise NotADirectoryError(20, "/tmp already exists and is not a directory")
        os.chmod(tmp, 0o1777)
