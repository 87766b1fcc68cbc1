"""Load a formula file, modern or legacy, JSON or YAML, with errors that say FILE:LINE:COL.

Detection (by content, not file name):

* a document whose top level has ``formula`` is a **modern** formula
  (``{"formula": …, "context": …}``, as ``repeatr run`` reads it);
* one whose top level has ``inputs``, ``action`` or ``outputs`` is a **legacy**
  formula (repeatr v0.13-v0.15).

Syntax:

* a file starting with ``{`` is read with repeatr's lenient JSON decoder
  (:mod:`r2k8s.core.formula.lenient_json`). Only if that fails *and* the text is a
  legacy formula in YAML flow syntax is it read as YAML: a modern formula must
  be in repeatr's JSON dialect, because a YAML reading of text refmt reads
  differently could change its formula ID;
* anything else is YAML. Modern YAML has exactly the JSON shape; the YAML 1.1
  resolution rules apply, so ``yes``/``no``/``on``/``off`` are booleans,
  ``0644`` is octal, ``12:30`` is sexagesimal and ``2001-12-14`` a date. Where
  a string is required such a value is an error that names the field and says
  to quote it; an integer (``uid``) written any way but plain decimal is refused
  too. Duplicate keys, multiple documents and tags other than the core ones are
  refused.
* legacy files are always read the way ``api/hitch.DecodeYaml`` did: leading
  tabs of every line become two spaces each (``cereal.Tab2space``), then YAML
  with **go-yaml v2's** resolution rules (``y``/``n`` are booleans too; ``12:30``
  and ``1e3`` stay strings; no timestamps), duplicate keys keep the last value.
  A legacy file in JSON syntax is read the same way, as repeatr did.

A document some other reader decoded already (a ``Formula`` resource's ``spec``
in a KRM function's input) is checked by :func:`load_formula_data` the same
way, minus the syntax: it has no text, so its errors name JSON paths only.

Validation: the JSON Schemas in ``schemas/`` (the same ones editors use), then
the typed model, which adds the checks a schema cannot express. Every error
becomes one line ``FILE:LINE:COL: $.json.path: problem`` (several lines if the
schema finds several problems), raised as ``R2k8sError(Category.USAGE, …)``.
"""

from r2k8s.formula_files.loader import (
    FormulaInvalid,
    LoadedFormula,
    load_formula_bytes,
    load_formula_data,
    load_formula_file,
)

__all__ = ["FormulaInvalid", "LoadedFormula", "load_formula_bytes", "load_formula_data", "load_formula_file"]
