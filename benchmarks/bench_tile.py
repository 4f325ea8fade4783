"""Benchmark (a): the naive per-variant recipe against glrm's default and tile modes, on the same SNVs.

The run of issue 7: every position of a 40 kb region of real sequence (GRCh37 chr20) gets one SNV (40,000
SNVs), window 16,384, a random HyenaDNA checkpoint (d_model 64, 2 layers) written in the official HF format
by glrm's own exporter, CPU. Figures only, no assertions.

- naive: per variant one full ref and one full alt forward, fp32, batch 1 (GPN's recipe, minus its RC
  passes), the scores taken with glrm's score functions. Timed on the first --sample variants; its rate is
  per variant, so it is extrapolated to the 40,000 (a full run would take hours).
- default: `glrm score-vcf` (the library call, end to end: VCF in, annotated VCF out) on the same sample,
  centred windows, passes deduplicated.
- tile: `glrm score-vcf --tile --scores mlr` on all 40,000 SNVs, end to end; and `--tile --scores llr,mlr`
  on the sample (LLR needs an alt pass per variant; the suffix after the variant, from the
  ref pass kept by the tile: glrm.models.hyena_suffix).
- With --mamba, also a random Mamba LM (d_model 64, 2 layers) in tile mode, --scores llr,mlr, with and
  without prefix reuse (alt passes from the ref state at the variant), on the sample.

    .venv/bin/python benchmarks/bench_tile.py --mamba   # the issue's run (~3 min on 2 cores)
    .venv/bin/python benchmarks/bench_tile.py --bases 4000 --sample 10 --mamba   # quick
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FASTA = ROOT.parent / "shared" / "data" / "chr20_b37" / "20.fa.gz"


def random_hyenadna(folder: Path, w: int) -> Path:
    from glrm.models.export import save_hyenadna_hf
    from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig

    torch.manual_seed(0)
    cfg = HyenaDNAConfig(d_model=64, n_layer=2, d_inner=256, max_seq_len=w + 2, emb_dim=5, filter_order=64,
                         activation_freq=10)
    return save_hyenadna_hf(HyenaDNA(cfg).eval(), folder)


def random_mamba(folder: Path) -> Path:
    """A random Mamba LM in the official mamba_ssm layout (config.json + pytorch_model.bin, tensors only)."""
    import json

    from glrm.models.mamba import MambaLM

    torch.manual_seed(0)
    model = MambaLM(64, 2, 16, {"d_state": 16, "d_conv": 4, "expand": 2})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "d_model": 64, "n_layer": 2, "vocab_size": 12, "ssm_cfg": {}, "rms_norm": True,
        "residual_in_fp32": True, "fused_add_norm": True, "pad_vocab_size_multiple": 8}))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def dense_snv_vcf(fasta: str, chrom: str, start: int, bases: int, path: Path,
                  limit: int | None = None) -> int:
    """One SNV at every position of chrom:[start, start + bases) (ALT = the next base of ACGT after REF)."""
    import pysam

    with pysam.FastaFile(fasta) as fa:
        seq = fa.fetch(chrom, start, start + bases).upper()
        length = fa.get_reference_length(chrom)
    if "N" in seq:
        raise SystemExit(f"{chrom}:{start + 1}-{start + bases} holds N; pick another --start")
    nxt = {"A": "C", "C": "G", "G": "T", "T": "A"}
    rows = [f"{chrom}\t{start + i + 1}\t.\t{b}\t{nxt[b]}\t.\t.\t." for i, b in enumerate(seq[:limit])]
    with open(path, "w") as fh:
        fh.write(f"##fileformat=VCFv4.2\n##contig=<ID={chrom},length={length}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "\n".join(rows) + "\n")
    return len(rows)


def naive(model_dir: Path, fasta: str, vcf: Path, w: int) -> tuple[int, float]:
    """Per variant: full ref + full alt forward, fp32, batch 1; LLR and MLR from the two passes."""
    from glrm.io.fasta import Fasta
    from glrm.io.vcf import VcfReader
    from glrm.models import load_model
    from glrm.models.tokenizer import encode
    from glrm.scoring import scores as S
    from glrm.windows import small_window

    model = load_model(model_dir).eval()
    n = 0
    with Fasta(fasta) as fa, VcfReader(str(vcf)) as reader, torch.inference_mode():
        t0 = time.perf_counter()
        for rec in reader:
            for allele in rec.alleles:
                win = small_window(fa, allele, w, 1.0)
                ref, alt = encode(win.ref)[None], encode(win.alt)[None]  # (1, W)
                lr = model(ref).logits[0]                                # (W, V)
                la = model(alt).logits[0]
                o, big_m = win.offset, S.downstream_pairs(w, win.offset, 1, 1)
                l_ref, l_alt = S.causal_token_logprobs(lr, ref[0]), S.causal_token_logprobs(la, alt[0])
                S.llr(l_ref, l_alt, o, 1, 1, big_m)
                S.mlr(S.nucleotide_logprobs(lr[o - 1:o]), ref[0, o:o + 1], alt[0, o:o + 1])
                n += 1
        return n, time.perf_counter() - t0


def glrm_run(model_dir: Path, fasta: str, vcf: Path, w: int, out: Path, *, tile: bool,
             scores: tuple[str, ...], prefix_reuse: bool = True) -> tuple[int, float]:
    """`glrm score-vcf` as a library call, end to end: model loading, VCF in and out, all timed."""
    from glrm.pipeline.options import ScoreVcfOptions
    from glrm.pipeline.score_vcf import score_vcf

    os.environ["GLRM_PREFIX_REUSE"] = "1" if prefix_reuse else "0"
    t0 = time.perf_counter()
    summary = score_vcf(ScoreVcfOptions(input=str(vcf), fasta=fasta, model=str(model_dir), output=str(out),
                                        window=w, scores=scores, device="cpu", quiet=True, tile=tile,
                                        max_n_frac=1.0, no_version=True))
    seconds = time.perf_counter() - t0
    os.environ.pop("GLRM_PREFIX_REUSE", None)
    with (gzip.open(out, "rt") if str(out).endswith(".gz") else open(out)) as fh:
        ok = sum("GLRM_STATUS=OK" in line for line in fh if not line.startswith("#"))
    return (ok if ok else summary.records), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fasta", default=str(DEFAULT_FASTA), help="GRCh37 chr20 (../shared/data/chr20_b37)")
    ap.add_argument("--chrom", default="20")
    ap.add_argument("--start", type=int, default=30_000_000, help="0-based start of the dense region")
    ap.add_argument("--bases", type=int, default=40_000, help="dense SNVs (one per base)")
    ap.add_argument("--window", type=int, default=16_384)
    ap.add_argument("--sample", type=int, default=40, help="variants timed for the naive/default/LLR runs")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--mamba", action="store_true", help="also Mamba LM tile LLR with/without prefix reuse")
    args = ap.parse_args()
    if not Path(args.fasta).exists():
        raise SystemExit(f"{args.fasta}: not found; give --fasta with an indexed GRCh37 chr20 (or any) FASTA")
    if args.threads:
        torch.set_num_threads(args.threads)
    w = args.window
    print(f"# bench_tile: {args.bases} dense SNVs at {args.chrom}:{args.start + 1}, W={w}, random HyenaDNA "
          f"d64 L2, CPU threads={torch.get_num_threads()}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = random_hyenadna(tmp / "hyena", w)
        full, sample = tmp / "dense.vcf", tmp / "sample.vcf"
        total = dense_snv_vcf(args.fasta, args.chrom, args.start, args.bases, full)
        k = dense_snv_vcf(args.fasta, args.chrom, args.start, args.bases, sample, limit=args.sample)
        rows = []
        n, s = naive(model, args.fasta, sample, w)
        rows.append(("naive (ref+alt per variant, batch 1)", "llr,mlr", n, s))
        base = n / s
        n, s = glrm_run(model, args.fasta, sample, w, tmp / "default.vcf", tile=False, scores=("llr", "mlr"))
        rows.append(("glrm default", "llr,mlr", n, s))
        n, s = glrm_run(model, args.fasta, sample, w, tmp / "tile_llr.vcf", tile=True, scores=("llr", "mlr"))
        rows.append(("glrm --tile", "llr,mlr", n, s))
        n, s = glrm_run(model, args.fasta, full, w, tmp / "tile.vcf", tile=True, scores=("mlr",))
        rows.append(("glrm --tile", "mlr", n, s))
        print(f"{'mode':<40}{'scores':<10}{'variants':>9}{'seconds':>10}{'SNVs/s':>11}{'x naive':>10}")
        for mode, sc, n, s in rows:
            print(f"{mode:<40}{sc:<10}{n:>9}{s:>10.2f}{n / s:>11.1f}{n / s / base:>10.1f}")
        print(f"# naive, default and tile llr timed on the first {k} of the {total} SNVs; "
              f"tile mlr on all {total}")
        print(f"# the naive recipe would take {total / base / 3600:.2f} h for all {total}")
        if args.mamba:
            mamba = random_mamba(tmp / "mamba")
            for reuse in (False, True):
                n, s = glrm_run(mamba, args.fasta, sample, w, tmp / f"m{reuse}.vcf", tile=True,
                                scores=("llr", "mlr"), prefix_reuse=reuse)
                print(f"mamba-lm d64 L2 --tile llr,mlr  prefix reuse {'on ' if reuse else 'off'}: "
                      f"{n} variants {s:.2f} s = {n / s:.2f} SNVs/s")


if __name__ == "__main__":
    sys.exit(main())
