"""Variants as glrm sees them: one `Allele` per VCF ALT, classified, in 0-based half-open coordinates.

`glrm.io.vcf` builds these from VCF/BCF records; `glrm.windows` turns them into ref/alt windows.
Nothing here reads files or imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(str, Enum):
    """What an ALT allele is, relative to its REF."""

    SNV = "SNV"
    MNV = "MNV"
    INS = "INS"
    DEL = "DEL"
    COMPLEX = "COMPLEX"            # spelled out, lengths differ and it is not a clean indel
    SV_SYMBOLIC = "SV_SYMBOLIC"    # <DEL>, <DUP>, <DUP:TANDEM>, <INV>, <INS>, <CNV>, <DEL:ME>, ...
    SV_SEQUENCE = "SV_SEQUENCE"    # spelled out, max(len(REF), len(ALT)) >= 50
    BND = "BND"                    # breakend bracket notation
    UNSUPPORTED = "UNSUPPORTED"    # '*', '.', '<NON_REF>', '<*>'


class Status(str, Enum):
    """Per-allele outcome (spec: GLRM_STATUS). Scores are computed only for OK."""

    OK = "OK"
    REF_MISMATCH = "REF_MISMATCH"
    N_CONTENT = "N_CONTENT"
    TOO_LONG = "TOO_LONG"
    UNSUPPORTED_ALLELE = "UNSUPPORTED_ALLELE"
    UNKNOWN_CONTIG = "UNKNOWN_CONTIG"


SV_MIN_LEN = 50  # spelled-out alleles at least this long are sequence-resolved SVs


@dataclass(frozen=True)
class SVInfo:
    """Record-level SV fields, kept as written (CIPOS/CIEND are kept but never used for windows)."""

    svtype: str | None = None
    end: int | None = None          # INFO/END: 1-based, inclusive
    svlen: int | None = None        # as written; callers disagree on its sign
    insseq: str | None = None       # INFO/SVINSSEQ
    mateid: str | None = None
    cipos: tuple[int, ...] | None = None
    ciend: tuple[int, ...] | None = None
    imprecise: bool = False


@dataclass(frozen=True)
class Breakend:
    """A parsed BND ALT (VCF 4.2 section 5.4)."""

    form: str          # one of "t[p[", "t]p]", "]p]t", "[p[t"
    mate_chrom: str
    mate_pos0: int     # p0: the mate position, 0-based
    bases: str         # the 't' part as written (may hold inserted bases)


@dataclass(frozen=True)
class Allele:
    """One ALT of one VCF record."""

    chrom: str
    pos: int                        # VCF POS, 1-based
    id: str                         # '.' when missing
    ref: str
    alt: str
    alt_index: int                  # 0-based index into the record's ALTs
    kind: Kind
    record_index: int = 0           # 0-based position of the record in the input stream
    sv: SVInfo = field(default_factory=SVInfo)
    bnd: Breakend | None = None
    reason: str = ""                # for UNSUPPORTED and unparseable alleles: why

    @property
    def start(self) -> int:
        """0-based start of REF."""
        return self.pos - 1

    @property
    def end(self) -> int:
        """0-based exclusive end of REF."""
        return self.pos - 1 + len(self.ref)

    @property
    def name(self) -> str:
        """The ID, or chrom:pos:ref:alt (the BED `name` column)."""
        return self.id if self.id not in ("", ".") else f"{self.chrom}:{self.pos}:{self.ref}:{self.alt}"
