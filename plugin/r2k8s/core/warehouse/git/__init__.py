"""git repositories as warehouses: rio's remote URL rules, the smart HTTP protocol, the per-remote object
cache and rio's ``pick``, ending in :func:`fetch_git_tree`, which the ware cache calls for ``git:`` wares.

Standard library only; the object and pack formats are :mod:`r2k8s.core.ware.git`'s.
"""

from r2k8s.core.warehouse.git.remotes import GitRemote, check_commit_ware, resolve_submodule_url, slugify_remote
from r2k8s.core.warehouse.git.wares import OBJS_DIR, fetch_git_tree, objs_root

__all__ = [
    "OBJS_DIR",
    "GitRemote",
    "check_commit_ware",
    "fetch_git_tree",
    "objs_root",
    "resolve_submodule_url",
    "slugify_remote",
]
