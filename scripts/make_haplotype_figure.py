"""Draw docs/img/haplotype-backgrounds.png: how much a variant's score moves across the haplotypes it is
scored in, from a real `glrm score-haplotypes` run on the 1000 Genomes chr22 slice of tests/data (5
samples, 10 haplotypes) with the demo model (examples/demo/model: a tiny HyenaDNA trained for the demo,
W = 1,024) on CPU.

The reference of that slice is synthetic (random bases, every REF allele written in: tests/data/README.md),
and the model is tiny, so the figure shows what the command measures, not biology. Left: for the targets
whose haplotypes spread most, each haplotype's GLRM_HAP_CLLR minus the target's reference-background
GLRM_CLLR (dots; 0 is the reference). Right: that shift for every haplotype window scored.
The script also prints the target with the widest spread, for docs/score-haplotypes.md's example.

Run: .venv/bin/python scripts/make_haplotype_figure.py [OUT.png]   (about a minute on 2 cores)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from glrm.pipeline.options import ScoreHaplotypesOptions  # noqa: E402
from glrm.pipeline.score_haplotypes import score_haplotypes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REGION = "22:50300000-50312000"
SHOWN = 24


def read(path: Path) -> list[dict]:
    """Per biallelic OK target: position, IDs, INFO numbers, per-haplotype CLLR and background ids."""
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        info = dict(e.split("=", 1) for e in cols[7].split(";") if "=" in e)
        if info["GLRM_STATUS"] != "OK" or "," in cols[4]:
            continue
        keys = cols[8].split(":")
        vals, bgs = [], []
        for sample in cols[9:]:
            parts = sample.split(":")
            for v, b in zip(parts[keys.index("GLRM_HAP_CLLR")].split(","),
                            parts[keys.index("GLRM_HAP_BG")].split(","), strict=True):
                if v != ".":
                    vals.append(float(v))
                    bgs.append(int(b))
        keep = ("GLRM_CLLR", "GLRM_HAP_CLLR_MEAN", "GLRM_HAP_CLLR_MIN", "GLRM_HAP_CLLR_MAX", "GLRM_HAP_N",
                "GLRM_HAP_N_UNIQUE")
        out.append({"pos": int(cols[1]), "id": cols[2], "ref": cols[3], "alt": cols[4], "vals": vals,
                    "bgs": bgs, **{k: info[k] for k in keep}})
    return out


def main(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hap.vcf"
        data = ROOT / "tests" / "data"
        opts = ScoreHaplotypesOptions(str(ROOT / "examples" / "demo" / "model"),
                                      input=str(data / "phased_chr22.vcf.gz"),
                                      fasta=str(data / "phased_chr22.fa.gz"), output=str(out), regions=REGION,
                                      device="cpu", quiet=True)
        summary = score_haplotypes(opts)
        rows = read(out)
    print(f"{summary.records} targets, {summary.haplotypes} haplotype windows, {summary.unique} distinct "
          f"backgrounds", file=sys.stderr)
    def spread(r):
        return float(r["GLRM_HAP_CLLR_MAX"]) - float(r["GLRM_HAP_CLLR_MIN"])

    wide = max(rows, key=spread)
    print("widest:", {k: v for k, v in wide.items() if k not in ("vals", "bgs")}, "values:", wide["vals"],
          "backgrounds:", wide["bgs"], file=sys.stderr)
    shown = sorted(sorted(rows, key=lambda r: -spread(r))[:SHOWN], key=lambda r: r["pos"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2.2, 1]})
    ax.axhline(0, color="#c0392b", lw=1.5, zorder=1)
    for i, r in enumerate(shown):
        ref = float(r["GLRM_CLLR"])
        xs = [i + 0.5 * ((j % 10) / 9 - 0.5) for j in range(len(r["vals"]))]
        ax.scatter(xs, [v - ref for v in r["vals"]], s=14, color="#2c7fb8", alpha=0.8, zorder=2)
    ax.set_xticks(range(len(shown)))
    ax.set_xticklabels([f"{r['pos']:,} ({r['GLRM_HAP_N_UNIQUE']})" for r in shown], rotation=70, fontsize=7)
    ax.set_ylabel("haplotype CLLR - reference CLLR (nats)")
    ax.set_xlabel(f"target on chr22 (distinct backgrounds): the {len(shown)} whose haplotypes spread most")
    ax.set_title("each haplotype's own background (dots) vs the reference background (line)", fontsize=10)
    shifts = [v - float(r["GLRM_CLLR"]) for r in rows for v in r["vals"]]
    bx.hist(shifts, bins=60, color="#2c7fb8")
    bx.set_yscale("log")
    bx.set_xlabel("haplotype CLLR - reference CLLR (nats)")
    bx.set_ylabel("haplotype windows")
    bx.set_title(f"all {len(shifts):,} haplotype windows of {len(rows)} targets", fontsize=10)
    fig.suptitle("glrm score-haplotypes on 1000 Genomes chr22 (5 samples), demo HyenaDNA (tiny), W 1,024, "
                 "synthetic reference", fontsize=10)
    fig.tight_layout()
    fig.savefig(dest, dpi=110)
    print(f"wrote {dest}", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "haplotype-backgrounds.png")
