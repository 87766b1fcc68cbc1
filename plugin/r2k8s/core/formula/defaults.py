"""repeatr's defaults for a formula: ``cradle.FormulaDefaults`` and the ``Clone()`` it starts with.

:func:`apply_defaults` is what both the formula ID and the executor use, so
the two can never disagree about a formula's uid, cwd or environment.
Standard library only.
"""

from __future__ import annotations

import dataclasses

from r2k8s.core.formula.model import Formula, OutputSpec, Userinfo
from r2k8s.core.formula.parse import canonical_pack_filters

__all__ = ["DEFAULT_PATH_ENV", "apply_defaults", "clone"]


DEFAULT_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def clone(formula: Formula) -> Formula:
    """repeatr's ``Formula.Clone()``: a refmt marshal/unmarshal round trip.

    What the round trip changes: absent output filters come back as ``{}``
    (the quirk behind §2.2), filter values come back canonical, and an empty
    ``env`` or ``exec`` is dropped by omitempty and comes back as ``None``.
    Everything else survives unchanged (``inputs: {}`` stays ``{}``).
    """
    action = formula.action
    action = dataclasses.replace(
        action,
        exec=action.exec or None,
        env=dict(action.env) if action.env else None,
    )
    outputs = None
    if formula.outputs is not None:
        outputs = {
            path: OutputSpec(spec.packtype, canonical_pack_filters(spec.filters or {}, ("outputs", path, "filters")))
            for path, spec in formula.outputs.items()
        }
    inputs = dict(formula.inputs) if formula.inputs is not None else None
    return Formula(inputs=inputs, action=action, outputs=outputs)


def apply_defaults(formula: Formula) -> Formula:
    """repeatr's ``executor/cradle.FormulaDefaults`` (cradle.go L15-93), exactly.

    Clone first; userinfo and uid/gid 1000 always; cwd ``/task`` (``/`` when
    ``cradle`` is ``"disable"``); with the cradle on, also username
    (``root``/``reuser``), homedir (``/root``/``/home/<username>``) and the
    ``HOME``, ``USER`` and ``PATH`` variables where absent. Policy, hostname and
    output filters are *not* defaulted here (they are at exec/pack time).
    """
    formula = clone(formula)
    action = formula.action
    userinfo = action.userinfo or Userinfo()
    userinfo = dataclasses.replace(
        userinfo,
        uid=1000 if userinfo.uid is None else userinfo.uid,
        gid=1000 if userinfo.gid is None else userinfo.gid,
    )
    cwd = action.cwd or ("/task" if action.cradle_enabled else "/")
    if not action.cradle_enabled:
        return dataclasses.replace(formula, action=dataclasses.replace(action, userinfo=userinfo, cwd=cwd))
    username = userinfo.username or ("root" if userinfo.uid == 0 else "reuser")
    homedir = userinfo.homedir or ("/root" if userinfo.uid == 0 else f"/home/{username}")
    userinfo = dataclasses.replace(userinfo, username=username, homedir=homedir)
    env = dict(action.env or {})
    env.setdefault("HOME", homedir)
    env.setdefault("USER", username)
    env.setdefault("PATH", DEFAULT_PATH_ENV)
    action = dataclasses.replace(action, userinfo=userinfo, cwd=cwd, env=env)
    return dataclasses.replace(formula, action=action)
