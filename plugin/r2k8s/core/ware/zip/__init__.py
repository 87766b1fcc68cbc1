"""Zip wares as rio's zip transmat reads and writes them.

rio hashes what Go's ``archive/zip`` reports plus its own rules for owners
and types, so the reader follows Go's parsing (central directory, extra
fields, MS-DOS times as UTC) rather than Python's ``zipfile``; the writer
records entries the way rio's packer does. Reading needs a seekable file
(the directory is at the end): see :func:`r2k8s.core.ware.ingest.ingest_zip`
for spooling a stream.
"""

from r2k8s.core.ware.zip.reader import ZipEntry, ZipReader, clean_zip_name, is_zip_magic
from r2k8s.core.ware.zip.writer import ZipWriter, check_packable, zip_name

__all__ = ["ZipEntry", "ZipReader", "ZipWriter", "check_packable", "clean_zip_name", "is_zip_magic", "zip_name"]
