"""Draw docs/img/sv-windows.png: where score-sv puts its windows in fits mode, breakpoint mode and for a BND.

The windows come from glrm's own code (`glrm.windows.allele_windows(..., sv=True)`) on a synthetic genome, so
the figure shows what the program does, not a redrawing of the spec. Each panel has the reference G (top) and
the alt haplotype H (bottom) with their windows as boxes; the replaced span G[s:e] is shaded orange, the new
sequence q in H green, and the aligned flank positions (the only ones the scores compare) blue (left flank)
and red (right flank). Run: .venv/bin/python scripts/make_window_figure.py [OUT.png]
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from glrm.variants import info_subset, make_alleles  # noqa: E402
from glrm.windows import allele_windows  # noqa: E402

W = 1000


class Toy:
    """A genome of two contigs of repeating ACGT (the figure needs positions, not sequence)."""

    sizes = {"chr1": 20_000, "chr7": 20_000}

    def resolve(self, chrom):
        return chrom if chrom in self.sizes else None

    def length(self, chrom):
        return self.sizes[chrom]

    def fetch(self, chrom, a, b):
        n = self.sizes[chrom]
        return "".join("ACGT"[i % 4] if 0 <= i < n else "N" for i in range(a, b))


def allele(pos, alt, info):
    return make_alleles("chr1", pos, "sv", "A" if pos % 4 == 1 else "ACGT"[(pos - 1) % 4], [alt],
                        info_subset(info))[0]


def box(ax, y, a, b, colour, label=None, hatch=None):
    ax.add_patch(Rectangle((a, y - 0.18), b - a, 0.36, facecolor="none" if hatch else colour, alpha=1 if hatch
                           else 0.18, edgecolor=colour, lw=1.5, hatch=hatch))
    if label:
        ax.text((a + b) / 2, y + 0.24, label, ha="center", va="bottom", fontsize=8, color=colour)


def flank_marks(ax, y_ref, y_alt, win, alt_shift=0):
    for fm, colour in ((win.left, "#1f77b4"), (win.right, "#d62728")):
        if len(fm):
            r0 = win.ref_start + fm.ref_start
            a0 = win.alt_start + fm.alt_start + alt_shift
            ax.plot([r0, r0 + fm.length], [y_ref - 0.05] * 2, color=colour, lw=4, solid_capstyle="butt")
            ax.plot([a0, a0 + fm.length], [y_alt + 0.05] * 2, color=colour, lw=4, solid_capstyle="butt")


def panel(ax, title, wins, s, e, kp, bnd=False):
    ax.set_title(title, fontsize=10, loc="left")
    y_ref, y_alt = 1.0, 0.0
    ax.axhline(y_ref, color="black", lw=0.8)
    ax.axhline(y_alt, color="black", lw=0.8)
    ax.axvspan(s, e, ymin=0.55, ymax=0.9, color="#ffbf00", alpha=0.35, lw=0)
    if bnd:
        ax.axvline(s, color="black", lw=1.0, ls="--")
        ax.add_patch(Rectangle((s, y_alt - 0.08), kp, 0.16, color="#2ca02c", alpha=0.6))
        ax.text(s + 20, y_alt - 0.45, f"junction: the {kp} inserted bases S, then the mate contig "
                "(t[p[: G2[p0 :] follows)", fontsize=8)
    elif kp:
        ax.add_patch(Rectangle((s, y_alt - 0.08), kp, 0.16, color="#2ca02c", alpha=0.6))
    else:
        ax.axvline(s, ymin=0.05, ymax=0.4, color="black", lw=1.0, ls="--")
    for i, w in enumerate(wins):
        colour = ("#444444", "#7b3294", "#008837")[min(w.bp, 2)]
        name = {0: "window", 1: "bp 1 window" if not bnd else "BND window", 2: "bp 2 window"}[w.bp]
        box(ax, y_ref + 0.0 * i, w.ref_start, w.ref_start + len(w.ref), colour,
            f"ref {name}" + (f" ({len(w.ref)} bases)" if w.bp == 0 else ""))
        if bnd:
            box(ax, y_alt, w.ref_start, s, colour, "alt: own contig")
            box(ax, y_alt, s + kp, w.ref_start + W, colour, "alt: mate bases", hatch="//")
        elif i == 0 or w.alt_start != wins[0].alt_start:
            box(ax, y_alt, w.alt_start, w.alt_start + len(w.alt), colour,
                f"alt {name}" + (f" ({len(w.alt)} bases)" if w.bp == 0 else ""))
            alt_label = ax.texts[-1]
        else:   # a deletion's two alt windows are the same slice of H (q is empty)
            alt_label.set_text("alt window of bp 1 and bp 2 (the same slice of H for a deletion)")
        flank_marks(ax, y_ref, y_alt, w)
    ax.set_yticks([y_alt, y_ref], ["alt H", "ref G"])
    ax.set_ylim(-0.8, 1.6)
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.ticklabel_format(axis="x", useOffset=False, style="plain")


def main(out: str = "docs/img/sv-windows.png") -> None:
    g = Toy()
    fits = allele(10_000, "<DEL>", "SVTYPE=DEL;END=10300")
    big = allele(8_000, "<DEL>", "SVTYPE=DEL;END=11000")
    bnd = allele(10_000, "A" + "ACGT" * 15 + "[chr7:5000[", "SVTYPE=BND")   # inserts 60 bases
    fig, axes = plt.subplots(3, 1, figsize=(11, 8.2))
    wf = allele_windows(g, fits, W, sv=True)
    left = (W - 300) // 2
    panel(axes[0], f"Fits mode: <DEL> of 300 bp, W = {W}: ref and alt both span G[s-L : e+R], L = R = {left} "
                   "(so every flank base has the same context in both)",
          wf, wf[0].s, wf[0].e, 0)
    axes[0].set_xlim(9_300, 11_000)
    wb = allele_windows(g, big, W, sv=True)
    panel(axes[1], "Breakpoint mode: <DEL> of 3,000 bp > W - 2*W//8: a window pair at each breakpoint "
                   "(GLRM_SV_BP = the one with the larger GLRM_SV_EMB)", wb, wb[0].s, wb[0].e, 0)
    axes[1].set_xlim(7_300, 11_700)
    wn = allele_windows(g, bnd, W, sv=True)
    panel(axes[2], "BND t[p[ with inserted bases (own contig left of the junction J = POS0 + 1): ref centred "
                   "on J; only the own-contig flank is aligned", wn, wn[0].s, wn[0].e, wn[0].m, bnd=True)
    axes[2].set_xlim(9_300, 10_700)
    axes[2].set_xlabel("position (bp, 0-based; alt rows in haplotype coordinates)")
    handles = [Rectangle((0, 0), 1, 1, color="#ffbf00", alpha=0.35), Rectangle((0, 0), 1, 1, color="#2ca02c",
                                                                                 alpha=0.6),
               plt.Line2D([], [], color="#1f77b4", lw=4), plt.Line2D([], [], color="#d62728", lw=4)]
    fig.legend(handles, ["replaced span G[s:e]", "new sequence (q, or a breakend's inserted bases)",
                         "aligned left flank", "aligned right flank"],
               loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
