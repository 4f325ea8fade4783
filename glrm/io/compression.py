"""Sniff how an input file is compressed: plain, BGZF (block gzip, indexable) or plain gzip (not indexable),
and whether it holds BCF. The one place glrm reads magic bytes: the FASTA, VCF, BED-regions and merge readers
all ask here, so they tell users the same thing about `bgzip` and BCF.
"""

from __future__ import annotations

import gzip
import struct

GZIP_MAGIC = b"\x1f\x8b"
# The 28-byte empty block bgzip writes last; its absence means the file was cut short.
BCF_MAGIC = b"BCF\x02"          # BCF2 (htslib's BCF starts so, after BGZF decompression when compressed)
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def gzip_kind(head: bytes) -> str | None:
    """'bgzf', 'gzip' or None (not gzip) from the first bytes (at least 18) of a file.

    BGZF is gzip whose header carries the extra subfield 'BC' (SAM/BAM spec, section 4.1).
    """
    if not head.startswith(GZIP_MAGIC):
        return None
    if len(head) < 12 or not head[3] & 0x04:  # FLG.FEXTRA unset: no extra field, so not BGZF
        return "gzip"
    (xlen,) = struct.unpack("<H", head[10:12])
    extra = head[12 : 12 + xlen]
    i = 0
    while i + 4 <= len(extra):
        si1, si2, slen = extra[i], extra[i + 1], struct.unpack("<H", extra[i + 2 : i + 4])[0]
        if (si1, si2) == (66, 67):  # 'B', 'C'
            return "bgzf"
        i += 4 + slen
    return "gzip"


def has_bgzf_eof(path) -> bool:
    """True when a regular BGZF file ends with bgzip's end-of-file block."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        if size < len(BGZF_EOF):
            return False
        fh.seek(size - len(BGZF_EOF))
        return fh.read() == BGZF_EOF


def sniff(path) -> tuple[str | None, bool]:
    """(compression, is_bcf) of the file at `path`: compression as `gzip_kind` ('bgzf', 'gzip' or None), and
    whether its (decompressed) content starts with BCF's magic. OSError when the file cannot be opened; a
    damaged gzip stream reads as not BCF (the reader that opens it next reports the damage)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    kind = gzip_kind(head)
    if kind is None:
        return None, head.startswith(BCF_MAGIC)
    try:
        with gzip.open(path, "rb") as fh:
            return kind, fh.read(len(BCF_MAGIC)) == BCF_MAGIC
    except (OSError, EOFError):
        return kind, False


def open_binary(path):
    """`path` opened for reading bytes, decompressed when it is gzip or BGZF."""
    with open(path, "rb") as fh:
        compressed = fh.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")
