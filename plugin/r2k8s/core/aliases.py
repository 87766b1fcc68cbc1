"""Type aliases shared across the core's layers.

They live at the top of :mod:`r2k8s.core` so every layer can name the same
shapes without importing a layer above it. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LogFn"]


LogFn = Callable[[str], None]
"""Receives one human-readable line, prefixed ``warn: `` or ``info: `` like rio's log levels."""
