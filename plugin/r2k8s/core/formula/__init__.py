"""Formulas: the model, parsing (modern, lenient JSON, legacy), the document writer, defaults and formula IDs.

May import :mod:`r2k8s.core.ware` and the core's leaves, never
:mod:`r2k8s.core.warehouse` (its peer) nor anything above.
"""

from r2k8s.core.formula.defaults import apply_defaults
from r2k8s.core.formula.document import context_document, formula_document
from r2k8s.core.formula.ids import formula_id, legacy_setup_hash, raw_setup_hash
from r2k8s.core.formula.legacy import LegacyFormula, parse_legacy_formula, to_modern
from r2k8s.core.formula.model import Action, Formula, FormulaContext, FormulaError, OutputSpec, Userinfo
from r2k8s.core.formula.parse import parse_context, parse_formula, parse_formula_document

__all__ = [
    "Action",
    "Formula",
    "FormulaContext",
    "FormulaError",
    "LegacyFormula",
    "OutputSpec",
    "Userinfo",
    "apply_defaults",
    "context_document",
    "formula_document",
    "formula_id",
    "legacy_setup_hash",
    "parse_context",
    "parse_formula",
    "parse_formula_document",
    "parse_legacy_formula",
    "raw_setup_hash",
    "to_modern",
]
