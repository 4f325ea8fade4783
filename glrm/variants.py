"""Variants as glrm sees them: one `Allele` per VCF ALT, classified, in 0-based half-open coordinates.

`glrm.io.vcf` builds these from VCF/BCF records; `glrm.windows` turns them into ref/alt windows.
Nothing here reads files or imports torch.
"""

from __future__ import annotations

import re
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
    """Per-allele outcome (docs/definitions.md, "Statuses"). Scores are computed only for OK."""

    OK = "OK"
    REF_MISMATCH = "REF_MISMATCH"
    N_CONTENT = "N_CONTENT"
    TOO_LONG = "TOO_LONG"
    UNSUPPORTED_ALLELE = "UNSUPPORTED_ALLELE"
    UNKNOWN_CONTIG = "UNKNOWN_CONTIG"


class HapStatus(str, Enum):
    """Why one haplotype of one sample was not scored for one target ALT by score-haplotypes
    (docs/score-haplotypes.md, "Statuses"), besides the target's own Status and its window's N_CONTENT."""

    MISSING_GT = "MISSING_GT"
    UNPHASED = "UNPHASED"
    PLOIDY = "PLOIDY"
    OVERLAP = "OVERLAP"
    SYMBOLIC_IN_WINDOW = "SYMBOLIC_IN_WINDOW"
    BACKGROUND_REF_MISMATCH = "BACKGROUND_REF_MISMATCH"
    BACKGROUND_TOO_LONG = "BACKGROUND_TOO_LONG"


# One sample's allele on one haplotype (glrm.io.genotypes): 0 REF, k >= 1 ALT k, or one of these
MISSING, UNPHASED, ABSENT, POLYPLOID = -1, -2, -3, -4
NO_PHASE_SET = -1       # the phase-set id of a genotype that constrains no phase (hom, unphased, missing)


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
    chr2: str | None = None         # INFO/CHR2 (DELLY, Sniffles): the contig END is on, when written


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


# ---- classification (pure functions; `glrm.io.vcf` calls them for every ALT) ----------------------------
#
# Rules, applied in this order to one ALT against its REF (case-insensitive):
#   UNSUPPORTED   '*', '.', '' (missing), '<*>', '<NON_REF>', '<X>' (gVCF "any other allele"), and spelled-out
#                 alleles with characters other than letters (or with a REF that is not a sequence, e.g. '.').
#   SV_SYMBOLIC   any other '<...>' allele: <DEL>, <DUP>, <DUP:TANDEM>, <INV>, <INS>, <CNV>, <DEL:ME>, <CN2>
#   BND           the four bracket forms t[p[, t]p], ]p]t, [p[t (`bnd` set), and single breakends 't.' / '.t'
#                 or unreadable bracket strings (`bnd` None, `reason` says why).
#   SV_SEQUENCE   spelled out with max(len(REF), len(ALT)) >= SV_MIN_LEN (50), whatever the lengths.
#   SNV / MNV     equal lengths, 1 / more than 1.
#   INS / DEL     lengths differ and the change is one contiguous block of inserted (deleted) bases: with S
#                 the shorter and L the longer allele, p the length of their common prefix and q of their
#                 common suffix, p + q >= len(S). This covers VCF normal form (shared first base,
#                 'A' -> 'ACCA'), the position-1 form (shared last base, 'CA' -> 'A'), and unnormalised
#                 but clean indels ('CTT' -> 'CTTT', 'AT' -> 'AGGT').
#   COMPLEX       any other spelled-out pair of different lengths ('ATG' -> 'AC').

_UNSUPPORTED_ALTS = {
    "*": "'*' (an allele spanning a deletion described by another record) has no sequence of its own",
    ".": "missing ALT ('.'): the record has no alternate allele",
    "": "empty ALT",
    "<*>": "'<*>' (gVCF: any unobserved allele) has no sequence",
    "<NON_REF>": "'<NON_REF>' (gVCF: any unobserved allele) has no sequence",
    "<X>": "'<X>' (old gVCF: any unobserved allele) has no sequence",
}
_BND_FORMS = (
    (re.compile(r"^([^\[\]]+)\[(.+):(\d+)\[$"), "t[p["),
    (re.compile(r"^([^\[\]]+)\](.+):(\d+)\]$"), "t]p]"),
    (re.compile(r"^\](.+):(\d+)\]([^\[\]]+)$"), "]p]t"),
    (re.compile(r"^\[(.+):(\d+)\[([^\[\]]+)$"), "[p[t"),
)
_SINGLE_BND = re.compile(r"^(\.[A-Za-z]+|[A-Za-z]+\.)$")


def parse_breakend(alt: str) -> Breakend | None:
    """The mate of a bracket-form breakend ALT (VCF 4.2 section 5.4), or None when `alt` is not one.

    `mate_pos0` is the mate POS minus 1. The mate contig is everything between the opening bracket and the
    last ':' (contig names may hold ':'). `bases` is the 't' part as written, inserted bases included.
    """
    if "[" not in alt and "]" not in alt:
        return None
    for pattern, form in _BND_FORMS:
        m = pattern.match(alt)
        if m is None:
            continue
        if form in ("t[p[", "t]p]"):
            bases, chrom, pos = m.group(1), m.group(2), m.group(3)
        else:
            chrom, pos, bases = m.group(1), m.group(2), m.group(3)
        if "[" in chrom or "]" in chrom or not chrom:
            return None
        return Breakend(form=form, mate_chrom=chrom, mate_pos0=int(pos) - 1, bases=bases)
    return None


def is_clean_indel(ref: str, alt: str) -> bool:
    """True when REF and ALT (lengths differ) differ by one contiguous inserted or deleted block."""
    short, long_ = (ref, alt) if len(ref) < len(alt) else (alt, ref)
    short, long_ = short.upper(), long_.upper()
    n = len(short)
    p = 0
    while p < n and short[p] == long_[p]:
        p += 1
    if p == n:
        return True
    q = 0
    while q < n - p and short[-1 - q] == long_[-1 - q]:
        q += 1
    return p + q >= n


def classify(ref: str, alt: str) -> tuple[Kind, Breakend | None, str]:
    """(kind, breakend, reason) of one ALT; `reason` is set for UNSUPPORTED and for BND without a mate."""
    if alt in _UNSUPPORTED_ALTS:
        return Kind.UNSUPPORTED, None, _UNSUPPORTED_ALTS[alt]
    if alt.startswith("<") and alt.endswith(">") and len(alt) > 2:
        return Kind.SV_SYMBOLIC, None, ""
    if "[" in alt or "]" in alt:
        bnd = parse_breakend(alt)
        if bnd is None:
            why = f"cannot read breakend ALT '{alt}' (VCF 4.2 section 5.4 forms: t[p[ t]p] ]p]t [p[t)"
            return Kind.BND, None, why
        return Kind.BND, bnd, ""
    if _SINGLE_BND.match(alt):
        return Kind.BND, None, f"single breakend '{alt}' has no mate position"
    if not alt.isascii() or not alt.isalpha():
        return Kind.UNSUPPORTED, None, f"ALT '{alt}' is not a sequence, symbolic allele or breakend"
    if not ref.isascii() or not ref.isalpha():
        return Kind.UNSUPPORTED, None, f"REF '{ref}' is not a sequence, so ALT '{alt}' cannot be placed"
    n, m = len(ref), len(alt)
    if max(n, m) >= SV_MIN_LEN:
        return Kind.SV_SEQUENCE, None, ""
    if n == m:
        return (Kind.SNV if n == 1 else Kind.MNV), None, ""
    if is_clean_indel(ref, alt):
        return (Kind.INS if m > n else Kind.DEL), None, ""
    return Kind.COMPLEX, None, ""


# INFO keys read into SVInfo. Values come as the text after '=' (None for a flag), as in the VCF line.
SV_INFO_KEYS = frozenset({"SVTYPE", "END", "SVLEN", "SVINSSEQ", "MATEID", "CIPOS", "CIEND", "IMPRECISE",
                          "CHR2"})
_SV_KEY_PARTS = ("SV", "END", "MATEID", "CIPOS", "IMPRECISE", "CHR2")  # every SV key contains one of these


def info_subset(info: str, keys: frozenset[str] = SV_INFO_KEYS) -> dict[str, str | None]:
    """The `keys` present in an INFO column ('A=1;FLAG;B=x,y'): key -> value text, or None for a flag."""
    out: dict[str, str | None] = {}
    if keys is SV_INFO_KEYS and not any(k in info for k in _SV_KEY_PARTS):
        return out  # fast path: none of the SV keys can be in this INFO
    for item in info.split(";"):
        key, eq, value = item.partition("=")
        if key in keys:
            out[key] = value if eq else None
    return out


def _ints(key: str, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise ValueError(f"INFO/{key}={value} is not a list of whole numbers") from None


def _per_alt(values: list[str], alt_index: int, n_alts: int) -> str:
    """The value for one ALT from a Number=A-style list, or the first value when the list is record-wide."""
    return values[alt_index] if len(values) == n_alts and n_alts > 1 else values[0]


def sv_info(info: dict[str, str | None], alt_index: int = 0, n_alts: int = 1) -> SVInfo:
    """SVInfo for one ALT from `info_subset(...)`. SVLEN and SVINSSEQ lists with one entry per ALT are split.

    Raises ValueError (the caller adds file and line) when END, SVLEN, CIPOS or CIEND are not whole numbers.
    """
    if not info:
        return SVInfo()
    end = svlen = None
    if info.get("END") not in (None, "", "."):
        (end,) = _ints("END", info["END"])[:1]
    raw_len = info.get("SVLEN")
    if raw_len not in (None, "", "."):
        svlen = _ints("SVLEN", _per_alt(raw_len.split(","), alt_index, n_alts))[0]
    insseq = info.get("SVINSSEQ")
    if insseq not in (None, "", "."):
        insseq = _per_alt(insseq.split(","), alt_index, n_alts)
    else:
        insseq = None
    cipos = _ints("CIPOS", info["CIPOS"]) if info.get("CIPOS") not in (None, "", ".") else None
    ciend = _ints("CIEND", info["CIEND"]) if info.get("CIEND") not in (None, "", ".") else None
    return SVInfo(
        svtype=info.get("SVTYPE") or None,
        end=end,
        svlen=svlen,
        insseq=insseq,
        mateid=info.get("MATEID") or None,
        cipos=cipos,
        ciend=ciend,
        imprecise="IMPRECISE" in info,
        chr2=info.get("CHR2") or None,
    )


def make_alleles(
    chrom: str,
    pos: int,
    id: str,
    ref: str,
    alts: list[str],
    info: dict[str, str | None],
    record_index: int = 0,
) -> list[Allele]:
    """One classified Allele per ALT, in ALT order. `info` is `info_subset(INFO column)`."""
    out = []
    for i, alt in enumerate(alts):
        kind, bnd, reason = classify(ref, alt)
        out.append(
            Allele(
                chrom=chrom, pos=pos, id=id, ref=ref, alt=alt, alt_index=i, kind=kind,
                record_index=record_index, sv=sv_info(info, i, len(alts)), bnd=bnd, reason=reason,
            )
        )
    return out
