"""Tar streams as Go's ``archive/tar`` reads and writes them, and the compressions rio sniffs.

rio hashes what Go's tar reader yields, so the reader here follows Go's
parsing (PAX, GNU long names, base-256 numbers) rather than Python's
``tarfile``; the writer emits exactly the headers rio's packer does.
"""

from r2k8s.core.ware.tar.compression import open_decompressed
from r2k8s.core.ware.tar.reader import TarEntry, TarReader
from r2k8s.core.ware.tar.writer import TarWriter

__all__ = ["TarEntry", "TarReader", "TarWriter", "open_decompressed"]
