"""git repositories as warehouses: rio's remote URL rules, the smart HTTP protocol, the per-remote object
cache and rio's ``pick``, ending in :func:`fetch_git_tree`, which the ware cache calls for ``git:`` wares.

Standard library only; the object and pack formats are :mod:`r2k8s.core.ware.git`'s.
"""

import typing

from r2k8s.core import lazy

if typing.TYPE_CHECKING:
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

_MODULE_OF = {
    "OBJS_DIR": "wares",
    "GitRemote": "remotes",
    "check_commit_ware": "remotes",
    "fetch_git_tree": "wares",
    "objs_root": "wares",
    "resolve_submodule_url": "remotes",
    "slugify_remote": "remotes",
}
"""Where each name of :data:`__all__` is defined: imported on first use (PEP 562), not with the package."""


# A name of :data:`__all__`, imported from its module when first asked for: importing ``remotes`` (the KRM function
# checks git inputs) must not load the smart HTTP client and git's object machinery.
__getattr__ = lazy.first_use(__name__, _MODULE_OF, globals())
