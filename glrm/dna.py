"""The one rule for reading DNA text (docs/definitions.md, "Notation"): upper-case, and every character other
than A, C, G and T (N, IUPAC codes, '-', '*', any non-ASCII character) is N. The FASTA reader, the window
builders and the tokenizer all read bases through this module, so a base means the same thing everywhere.

No torch, no numpy, no file I/O: everything may import it.
"""

from __future__ import annotations

BASES = "ACGT"

# byte -> byte: A/C/G/T in either case -> upper case, anything else -> N
NORMALIZE_BYTES = bytearray(b"N" * 256)
for _b in BASES.encode():
    NORMALIZE_BYTES[_b] = _b
    NORMALIZE_BYTES[_b + 32] = _b   # lower case
NORMALIZE_BYTES = bytes(NORMALIZE_BYTES)
_COMPLEMENT_BYTES = bytes(NORMALIZE_BYTES).translate(bytes.maketrans(b"ACGT", b"TGCA"))


def as_bytes(seq: str | bytes) -> bytes:
    """ASCII bytes of `seq`; a non-ASCII character becomes b'?' (read as N)."""
    return seq if isinstance(seq, bytes | bytearray) else seq.encode("ascii", "replace")


def normalize(seq: str) -> str:
    """`seq` upper-cased, with every character other than A, C, G, T read as N (one C-level pass)."""
    return as_bytes(seq).translate(NORMALIZE_BYTES).decode("ascii")


def revcomp(seq: str) -> str:
    """Reverse complement of the normalized sequence: A<->T, C<->G, anything else N; upper case."""
    return as_bytes(seq).translate(_COMPLEMENT_BYTES)[::-1].decode("ascii")
