"""Benchmark: HyenaDNA alt passes whole against alt suffixes from the ref pass (causal prefix reuse).

Random HyenaDNA models (d_model 64 with 2 layers, d_model 256 with 4 layers) at W = 4096 and 16384, CPU,
one torch thread, CPU seconds (time.process_time: the machine is shared, wall time is noisy). Figures only.

- per pass: a whole alt pass; an alt suffix (glrm.models.hyena_suffix) with tile-like offsets
  (o uniform in [W/4, 3W/4)) and with the default mode's o = W/2; a ref pass plain and one that keeps what
  the suffixes need (hyena_suffix.ref_forward).
- end to end: SmallVariantEngine, --scores llr,mlr, prefix reuse on and off, on SNVs spread evenly over the
  central half of one tile of a random sequence, default windows (o = W/2) and --tile windows (one shared
  ref tile, o from W/4 to 3W/4).

    .venv/bin/python benchmarks/bench_prefix.py                  # the full run (~10 min on 2 cores)
    .venv/bin/python benchmarks/bench_prefix.py --quick          # d64 only, W = 4096 only
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import torch

SHAPES = {"d64-L2": (64, 2), "d256-L4": (256, 4)}


def random_model(d_model: int, n_layer: int, w: int):
    from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig

    torch.manual_seed(0)
    cfg = HyenaDNAConfig(d_model=d_model, n_layer=n_layer, d_inner=4 * d_model, max_seq_len=w + 2, emb_dim=5,
                         filter_order=64, activation_freq=10)
    return HyenaDNA(cfg).eval()


def cpu_seconds(fns: dict, repeat: int) -> dict[str, float]:
    """CPU seconds per call of each fn, after one warm-up call each (filter spectra cached); the calls are
    interleaved (one of each per round), so a change in the machine's load hits every figure alike."""
    total = dict.fromkeys(fns, 0.0)
    for fn in fns.values():
        fn()
    for _ in range(repeat):
        for key, fn in fns.items():
            t0 = time.process_time()
            fn()
            total[key] += time.process_time() - t0
    return {key: t / repeat for key, t in total.items()}


def per_pass(model, w: int, repeat: int, rng: random.Random) -> dict[str, float]:
    from glrm.models.hyena_suffix import ref_forward, suffix_forward

    ref = torch.randint(7, 11, (1, w))                                   # (1, W) ACGT ids
    tile_offsets = [rng.randrange(w // 4, 3 * w // 4) for _ in range(repeat + 1)]
    alts = {}
    for o in [*tile_offsets, w // 2]:
        a = ref.clone()
        a[0, o] = 7 + (int(a[0, o]) - 6) % 4                              # another base
        alts[o] = a
    with torch.inference_mode():
        _, cache = ref_forward(model, ref, list(alts))
        it = iter(tile_offsets)

        def tile_suffix():
            o = next(it)
            suffix_forward(model, cache, alts[o], [0], [o])

        return cpu_seconds({
            "ref whole": lambda: model(ref),
            "ref keeping": lambda: ref_forward(model, ref, list(alts)),
            "alt whole": lambda: model(alts[w // 2]),
            "alt suffix, tile o": tile_suffix,
            "alt suffix, o = W/2": lambda: suffix_forward(model, cache, alts[w // 2], [0], [w // 2]),
        }, repeat)


class _Genome:
    """An in-memory one-contig genome with the FASTA reader's fetch semantics (N outside the contig)."""

    def __init__(self, seq: str):
        self.seq = seq

    def resolve(self, chrom):
        return "c" if chrom == "c" else None

    def length(self, chrom):
        return len(self.seq)

    def fetch(self, chrom, start, end):
        left = "N" * max(0, min(end, 0) - start)
        right = "N" * max(0, end - max(start, len(self.seq)))
        return left + self.seq[max(start, 0):max(min(end, len(self.seq)), 0)] + right


def end_to_end(model, w: int, n_snvs: int, tile: bool, rng: random.Random) -> dict[bool, float]:
    """CPU seconds of SmallVariantEngine.score on n_snvs dense SNVs, llr,mlr, prefix reuse off and on."""
    from glrm.scoring.engine import EngineConfig, Job, SmallVariantEngine
    from glrm.variants import Allele, classify
    from glrm.windows import small_window, tile_origin

    seq = "".join(rng.choice("ACGT") for _ in range(4 * w))
    genome = _Genome(seq)
    nxt = {"A": "C", "C": "G", "G": "T", "T": "A"}
    g0 = tile_origin(2 * w, w)        # SNVs spread over one tile's central half: offsets W/4 .. 3W/4
    jobs = []
    for i in range(n_snvs):
        pos = g0 + w // 4 + i * (w // 2) // n_snvs + 1                   # 1-based
        ref = seq[pos - 1]
        kind, bnd, reason = classify(ref, nxt[ref])
        allele = Allele(chrom="c", pos=pos, id=".", ref=ref, alt=nxt[ref], alt_index=0, kind=kind, bnd=bnd,
                        reason=reason)
        jobs.append(Job(small_window(genome, allele, w, 1.0, tiled=tile)))
    got = {}
    for reuse in (False, True):
        cfg = EngineConfig(scores=("llr", "mlr"), tile=tile, prefix_reuse=reuse)
        eng = SmallVariantEngine(model, cfg, "cpu")
        # run_linked takes HyenaDNA's suffix path whenever the engine links passes: measure it even where
        # supports_prefix_reuse leaves it off
        eng.prefix_reuse = reuse
        eng.score(jobs[:1])                                              # warm-up (filter spectra)
        t0 = time.process_time()
        eng.score(jobs)
        got[reuse] = time.process_time() - t0
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="d64-L2 at W = 4096 only")
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated subset of d64-L2,d256-L4")
    ap.add_argument("--windows", default="4096,16384", help="comma-separated window lengths")
    ap.add_argument("--repeat", type=int, default=6, help="timed calls per figure")
    ap.add_argument("--snvs", type=int, default=24, help="SNVs per end-to-end run")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(0)
    shapes = ["d64-L2"] if args.quick else args.shapes.split(",")
    windows = [4096] if args.quick else [int(x) for x in args.windows.split(",")]
    print(f"# bench_prefix: HyenaDNA alt passes whole vs suffix; CPU seconds (process_time), 1 torch thread, "
          f"torch {torch.__version__}")
    print(f"{'model':<9}{'W':>7}  {'figure':<22}{'s/pass':>9}{'x whole':>9}")
    for name in shapes:
        d, n_layer = SHAPES[name]
        for w in windows:
            model = random_model(d, n_layer, w)
            figs = per_pass(model, w, args.repeat, rng)
            for key, s in figs.items():
                base = figs["ref whole"] if key.startswith("ref") else figs["alt whole"]
                print(f"{name:<9}{w:>7}  {key:<22}{s:>9.4f}{base / s:>9.2f}")
            for tile in (False, True):
                e2e = end_to_end(model, w, args.snvs, tile, rng)
                mode = "--tile" if tile else "default"
                print(f"{name:<9}{w:>7}  engine llr,mlr {mode:<8} reuse off {e2e[False]:.2f} s, on "
                      f"{e2e[True]:.2f} s: x{e2e[False] / e2e[True]:.2f} ({args.snvs} SNVs)")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
