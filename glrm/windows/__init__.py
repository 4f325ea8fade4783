"""Ref/alt windows as the models see them (docs/windows.md; the exact rules in docs/definitions.md).

- `glrm.windows.base`: what every builder shares: the `Genome` protocol, `normalize`/`revcomp`, the
  `Window` and `FlankMap` types (one ref/alt pair plus the index maps the scores need: the offset of the
  variant and the aligned flank pairs, reference bases present in both windows with their distance to the
  edit), the aligned-flank rule and the status notes.
- `glrm.windows.small`: score-vcf's small-variant windows, their `--tile` tiles and `--rc mean` mirror.
- `glrm.windows.sv`: score-sv's structural-variant windows (one edit `G[s:e] -> q`; fits or breakpoint mode;
  BND).
- this module: `allele_windows`, which picks one of the two rules, and the names callers use, re-exported.

`small` and `sv` import only `base`, never this module. Everything here is pure: no file I/O, no torch.

Status precedence, first match wins (every window builder in `small` and `sv` follows it):
UNKNOWN_CONTIG > UNSUPPORTED_ALLELE > REF_MISMATCH > TOO_LONG > N_CONTENT > OK.
"""

from __future__ import annotations

from glrm.defaults import DEFAULT_MAX_N_FRAC, DEFAULT_MAX_SV_LEN
from glrm.variants import Allele
from glrm.windows.base import (
    FlankMap,
    Genome,
    Window,
    allele_status,
    check_window,
    normalize,
    revcomp,
)
from glrm.windows.small import RevCompGenome, mirror_small_window, small_window, tile_origin
from glrm.windows.sv import sv_windows

__all__ = [
    "FlankMap",
    "Genome",
    "RevCompGenome",
    "Window",
    "allele_status",
    "allele_windows",
    "check_window",
    "mirror_small_window",
    "normalize",
    "revcomp",
    "small_window",
    "sv_windows",
    "tile_origin",
]


def allele_windows(genome: Genome, allele: Allele, w: int, sv: bool, max_n_frac: float = DEFAULT_MAX_N_FRAC,
                   max_sv_len: int = DEFAULT_MAX_SV_LEN) -> list[Window]:
    """The windows of one ALT allele: score-vcf's small-variant rules, or, with `sv`, score-sv's SV rules (one
    window, or two in breakpoint mode; docs/definitions.md)."""
    if not sv:
        return [small_window(genome, allele, w, max_n_frac)]
    return sv_windows(genome, allele, w, max_n_frac, max_sv_len)
