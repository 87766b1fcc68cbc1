"""Ware IDs: ``<packtype>:<hash>``, as go-timeless-api ``waresSerial.go`` parses them."""

from __future__ import annotations

import dataclasses

from r2k8s.core.errors import usage_error

__all__ = ["WareID"]


@dataclasses.dataclass(frozen=True, order=True)
class WareID:
    packtype: str
    hash: str

    @classmethod
    def parse(cls, text: str) -> WareID:
        """Split at the first colon; a string without one is an error (as upstream)."""
        if not isinstance(text, str):
            raise usage_error(f"ware ID must be a string, not {type(text).__name__}")
        if ":" not in text:
            raise usage_error(f"ware ID {text!r} has no ':' (expected '<packtype>:<hash>')")
        packtype, _, hash_ = text.partition(":")
        return cls(packtype, hash_)

    def __str__(self) -> str:
        return f"{self.packtype}:{self.hash or '-'}"

    @property
    def is_mount(self) -> bool:
        """``mount:ro:/host`` and ``mount:rw:/host`` are host bind mounts, not wares."""
        return self.packtype == "mount"
