"""Genotypes for score-haplotypes: each sample's allele on each of its two haplotypes, read from a VCF
record's GT (and PS) fields as written (docs/score-haplotypes.md, "Genotypes").

One code per sample and haplotype slot (`(S, 2)` int16): the allele index (0 REF, k >= 1 ALT k), or
- MISSING: `.` in the GT, a GT-less or empty sample field, or an unphased genotype with a missing allele;
- UNPHASED: an unphased heterozygote (`0/1`): which haplotype carries which allele is unknown. An unphased
  homozygote (`1/1`, `0/0`) is read as phased: both haplotypes carry the same allele;
- ABSENT: the second slot of a haploid call (`1`, chrX/Y/MT in males): that haplotype does not exist;
- POLYPLOID: both slots of a call with three or more alleles.
Phase sets (FORMAT/PS, VCF 4.2 section 1.6.2): a phased heterozygote belongs to the set its PS names, or to
the one default set when PS is missing or absent; other genotypes constrain nothing (NO_PHASE_SET).

Pure: no torch; numpy only.
"""

from __future__ import annotations

import numpy as np

from glrm.errors import InputError
from glrm.variants import ABSENT, MISSING, NO_PHASE_SET, POLYPLOID, UNPHASED

DEFAULT_PHASE_SET = -2          # phased heterozygotes without a PS value (VCF: one implicit set)

_GT_CACHE: dict[str, tuple[int, int]] = {}
_CACHE_MAX = 4096


def _allele(text: str) -> int:
    if text == ".":
        return MISSING
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def gt_codes(gt: str) -> tuple[int, int]:
    """The (slot 1, slot 2) codes of one GT value (`0|1`, `1/1`, `1`, `./.`, `0|1|1`, ...)."""
    hit = _GT_CACHE.get(gt)
    if hit is not None:
        return hit
    text = gt[1:] if gt[:1] in ("|", "/") else gt        # VCF 4.4's explicit phasing of the first allele
    if text in ("", "."):
        out = (MISSING, MISSING)
    elif "|" not in text and "/" not in text:
        a = _allele(text)
        out = (MISSING, MISSING) if a == MISSING else (a, ABSENT)
    else:
        phased = "/" not in text
        parts = text.replace("/", "|").split("|")
        if len(parts) > 2:
            for p in parts:
                _allele(p)
            out = (POLYPLOID, POLYPLOID)
        else:
            a, b = _allele(parts[0]), _allele(parts[1])
            if phased or (a == b and a != MISSING):
                out = (a, b)
            elif MISSING in (a, b):
                out = (MISSING, MISSING)
            else:
                out = (UNPHASED, UNPHASED)
    if len(_GT_CACHE) < _CACHE_MAX:
        _GT_CACHE[gt] = out
    return out


def read_genotypes(cols: list[str], samples: list[int], n_alts: int, where: str
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """(codes (S, 2) int16, phase sets (S,) int64 or None) of the columns `samples` (0-based sample indices)
    of one record split into its tab-separated columns `cols`. Phase sets are None when FORMAT has no PS.
    A GT that is not a genotype, or names an allele the record does not have, is an InputError naming
    `where` (file and line)."""
    codes = np.full((len(samples), 2), MISSING, dtype=np.int16)                  # (S, 2)
    if len(cols) < 10:
        return codes, None
    keys = cols[8].split(":")
    gi = keys.index("GT") if "GT" in keys else None
    pi = keys.index("PS") if "PS" in keys else None
    if gi is None:
        return codes, None
    sets = np.full(len(samples), NO_PHASE_SET, dtype=np.int64) if pi is not None else None  # (S,)
    for row, j in enumerate(samples):
        field = cols[9 + j]
        if gi == 0 and pi is None:
            gt = field.split(":", 1)[0]
            parts = None
        else:
            parts = field.split(":")
            gt = parts[gi] if gi < len(parts) else "."
        try:
            a, b = gt_codes(gt)
        except ValueError:
            raise InputError(f"{where}: sample {j + 1}'s GT {gt!r} is not a genotype; fix the record"
                             ) from None
        if a > n_alts or b > n_alts:
            raise InputError(f"{where}: sample {j + 1}'s GT {gt!r} names allele {max(a, b)} but the record "
                             f"has {n_alts} ALT(s); fix the record")
        codes[row, 0], codes[row, 1] = a, b
        if sets is not None and a >= 0 and b >= 0 and a != b:
            ps = parts[pi] if parts is not None and pi < len(parts) else "."
            if ps in (".", ""):
                sets[row] = DEFAULT_PHASE_SET
            else:
                try:
                    sets[row] = int(ps)
                except ValueError:
                    raise InputError(f"{where}: sample {j + 1}'s PS {ps!r} is not a whole number; fix the "
                                     "record") from None
    return codes, sets
