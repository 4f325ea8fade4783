"""`glrm plan`: the memory and time a run will need for one model and window, before a long run.

Memory, for one batch of B passes of W tokens (float32 outputs and activations, H and V from
`glrm.resources.model_dims`; B times `glrm.resources.pass_bytes`, the model the run's automatic sizes use,
so plan and run agree):

  weights      the model's parameters and buffers, as they will run (bf16: the engine's cast)
  logits       B * W * V * 4                               (B, W, V)
  hidden       B * W * H * 4                               (B, W, H)
  activations  unchunked: B * W * (ACT_FACTOR - 1) * H * 4
               chunk C < W: B * (W * (RESIDENT_FACTOR - 1) * H + C * CHUNK_ACT_FACTOR * H) * 4
  peak         the sum

so the batch `auto_batch_size` picks keeps logits + hidden + activations within MEM_FRACTION of the free
memory, and the chunk `auto_chunk_size` picks keeps them within CHUNK_MEM_FRACTION of it.

Time: one forward of `calibration_length` random A/C/G/T tokens (batch 1, best of 2; CUDA: of 3, and
synchronised) on the device, scaled to W by the family's cost in L: Mamba and Caduceus L (a linear scan),
HyenaDNA L log2 L (its FFT convolution; the projections are linear, so this errs on the slow side). Per
1,000 variants it counts passes as the engines plan them with the default --scores llr,mlr,emb.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from glrm import resources
from glrm.pipeline.options import PlanOptions

CALIBRATION_TOKENS = {"cpu": 4096, "cuda": 32768}   # CUDA: long enough that kernel launches do not dominate


@dataclass(frozen=True)
class Memory:
    """Predicted bytes of one batch (see the module docstring)."""

    weights: int
    logits: int
    hidden: int
    activations: int

    @property
    def peak(self) -> int:
        return self.weights + self.logits + self.hidden + self.activations


def predict_memory(weights: int, w: int, hidden: int, vocab: int, batch: int, chunk: int | None) -> Memory:
    """Peak bytes of one batch of `batch` passes of `w` tokens, run in chunks of `chunk` (None: whole)."""
    one = resources.pass_bytes(w, hidden, vocab, chunk)
    return Memory(weights, batch * one.logits, batch * one.hidden, batch * one.activations)


def cost(family: str, length: int) -> float:
    """Relative forward cost of `length` tokens: L log2 L for HyenaDNA, L for Mamba and Caduceus."""
    return length * math.log2(max(length, 2)) if family == "hyenadna" else float(length)


def cost_model(family: str) -> tuple[str, str]:
    """(the cost in L, why) as `cost` uses it."""
    if family == "hyenadna":
        return "L log2 L", "HyenaDNA: FFT long convolution"
    return "L", f"{'Caduceus' if family == 'caduceus' else 'Mamba'}: linear scan"


@dataclass
class Plan:
    name: str
    checkpoint: str
    format: str
    family: str
    kind: str
    parameters: int
    device: str
    free: int                   # bytes free on the device (resources.free_memory_bytes)
    window: int
    precision: str
    hidden: int                 # H (resources.model_dims)
    vocab: int                  # V
    batch: int                  # the batch one forward runs: --batch-size, else auto
    batch_given: bool
    batch_auto: int             # resources.auto_batch: what the run picks (CPU caps included)
    batch_by_memory: int        # resources.auto_batch_size alone
    chunk: int | None           # the chunk one forward runs (None: the whole window)
    chunk_option: str           # as given: none, N or auto
    chunk_auto: int             # resources.auto_chunk_size: what --chunk-size auto picks
    memory: Memory
    calibration_length: int | None = None
    calibration_seconds: float | None = None
    calibration_repeats: int = 0
    threads: int = 0            # torch intra-op threads during the calibration
    passes_per_snv: float | None = None
    passes_note: str = ""
    prefix_keep: int | None = None  # HyenaDNA score-vcf LLR: bytes the ref passes keep for alt suffixes

    @property
    def seconds_per_window(self) -> float | None:
        """Predicted seconds of one W-token pass at batch 1."""
        if self.calibration_seconds is None or self.calibration_length is None:
            return None
        return self.calibration_seconds * cost(self.family, self.window) / cost(self.family,
                                                                                 self.calibration_length)


def passes_per_snv(model, prefix_reuse: bool) -> tuple[float, str]:
    """Model passes (in W-token units) per SNV in score-vcf's default mode with --scores llr,mlr,emb."""
    if model.info.kind == "masked":
        return 3.0, "masked ref for MLR, ref and alt for EMB"
    if prefix_reuse:
        return 1.5, "ref, and the alt's W/2 tokens after the variant from the ref pass"
    return 2.0, "ref and alt"


def calibrate(model, length: int, chunk: int | None, device, repeats: int) -> float:
    """Best wall seconds of `repeats` forwards of `length` random A/C/G/T tokens, batch 1."""
    import torch

    from glrm.models.tokenizer import vocabulary_of

    gen = torch.Generator().manual_seed(0)
    nuc = torch.tensor(vocabulary_of(model).nucleotides)
    ids = nuc[torch.randint(0, 4, (1, length), generator=gen)].to(device)  # (1, L), the model's A/C/G/T
    best = math.inf
    with torch.inference_mode():
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            model(ids, chunk_size=chunk)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - t0)
    return best


def make_plan(opts: PlanOptions) -> Plan:
    """Resolve the model and window as score-vcf does, load the model, predict memory, and (with
    `opts.calibrate`) time one short forward on the device."""
    opts.validate()
    import torch

    from glrm.models.loading import inspect_checkpoint, load_model
    from glrm.pipeline.score_vcf import model_window, resolve_device

    ckpt = inspect_checkpoint(opts.model)
    w = model_window(ckpt, opts.window)
    device = resolve_device(opts.device)
    resources.set_threads(opts.threads)
    model = load_model(opts.model, device=device)

    from glrm.scoring.engine import EngineConfig, cast_model
    from glrm.scoring.prefix import supports_prefix_reuse

    cast_model(model, opts.precision)
    hidden, vocab = resources.model_dims(model)
    free = resources.free_memory_bytes(device)
    by_memory = resources.auto_batch_size(w, hidden, vocab, free)
    batch_auto = resources.auto_batch(model, w, device)
    batch = opts.batch_size if opts.batch_size is not None else batch_auto
    chunk_auto = resources.auto_chunk_size(model, w, device)
    chunk = chunk_auto if opts.chunk_size == "auto" else opts.chunk_size
    tensors = {id(t): t for t in (*model.parameters(), *model.buffers())}.values()
    weights = sum(t.numel() * t.element_size() for t in tensors)
    info = model.info
    plan = Plan(
        name=info.name, checkpoint=info.checkpoint, format=info.format, family=info.family,
        kind=info.kind, parameters=sum(p.numel() for p in model.parameters()), device=str(device),
        free=free, window=w, precision=opts.precision, hidden=hidden, vocab=vocab, batch=batch,
        batch_given=opts.batch_size is not None, batch_auto=batch_auto, batch_by_memory=by_memory,
        chunk=chunk, chunk_option="none" if opts.chunk_size is None else str(opts.chunk_size),
        chunk_auto=chunk_auto, memory=predict_memory(weights, w, hidden, vocab, batch, chunk),
    )
    reuse = EngineConfig().prefix_reuse and supports_prefix_reuse(model)
    if reuse and info.family == "hyenadna":
        from glrm.models.hyena_suffix import kept_bytes

        plan.prefix_keep = kept_bytes(model, batch, w, [w // 2])
        reuse = plan.prefix_keep <= resources.PREFIX_KEEP_FRACTION * free   # else: whole alt passes
    plan.passes_per_snv, plan.passes_note = passes_per_snv(model, reuse)
    if opts.calibrate:
        length = min(w, CALIBRATION_TOKENS.get(device.type, CALIBRATION_TOKENS["cpu"]))
        plan.calibration_length = length
        plan.calibration_repeats = 3 if device.type == "cuda" else 2
        plan.threads = torch.get_num_threads()
        plan.calibration_seconds = calibrate(model, length, chunk if chunk and chunk < length else None,
                                             device, plan.calibration_repeats)
    return plan


# --- the table -----------------------------------------------------------------------------------

def size(n: float) -> str:
    """Bytes in binary units with 3 significant digits: 512 B, 64.0 KiB, 1.25 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def duration(s: float) -> str:
    """Seconds as ms, s, min or h, 3 significant digits (whole hours from 1,000 h)."""
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    return f"{s / 3600:.3g} h" if s < 3600 * 999.5 else f"{s / 3600:,.0f} h"


def rows(p: Plan) -> list[tuple[str, str, str]]:
    """(field, value, note) rows of the table."""
    b, w, h, v = p.batch, p.window, p.hidden, p.vocab
    m = p.memory
    chunked = p.chunk is not None and p.chunk < w
    if p.batch_given:
        batch_note = f"--batch-size; auto would pick {p.batch_auto}"
    elif p.batch_auto != p.batch_by_memory:
        batch_note = f"auto (memory alone allows {p.batch_by_memory}; on CPU batching does not pay)"
    else:
        batch_note = "auto, from free memory"
    chunk_value = "none" if p.chunk is None else f"{p.chunk:,}"
    chunk_note = ("--chunk-size auto" if p.chunk_option == "auto" else
                  "the whole window" if p.chunk_option == "none" else "--chunk-size")
    if p.chunk is not None and not chunked:
        chunk_note += " (= W: the whole window)"
    chunk_note += f"; auto would pick {p.chunk_auto:,}"
    act_note = (f"(B, W, {resources.ACT_FACTOR - 1}H) float32" if not chunked else
                f"(B, W, {resources.RESIDENT_FACTOR - 1}H) for the pass + "
                f"(B, C, {resources.CHUNK_ACT_FACTOR}H) per chunk, float32")
    out = [
        ("model", p.name, f"{p.format}, {p.kind}"),
        ("checkpoint", p.checkpoint, ""),
        ("parameters", f"{p.parameters:,}", f"H {h}, V {v}"),
        ("device", p.device, f"{size(p.free)} free"),
        ("window", f"{w:,}", "tokens (W)"),
        ("precision", p.precision, ""),
        ("batch", str(b), batch_note),
        ("chunk", chunk_value, chunk_note),
        ("memory weights", size(m.weights), "parameters and buffers"),
        ("memory logits", size(m.logits), f"(B, W, V) = ({b}, {w}, {v}) float32"),
        ("memory hidden", size(m.hidden), f"(B, W, H) = ({b}, {w}, {h}) float32"),
        ("memory activations", size(m.activations), act_note),
        ("memory peak", size(m.peak), f"{100 * m.peak / max(p.free, 1):.1f}% of free"),
    ]
    if p.prefix_keep is not None:
        keep = resources.PREFIX_KEEP_FRACTION
        fits = p.prefix_keep <= keep * p.free
        out.append(("memory prefix keep", size(p.prefix_keep),
                    "score-vcf LLR/EMB, on top of the peak: each ref pass keeps every layer's long-conv input"
                    f" and output for the alt suffixes; {'within' if fits else 'over'} "
                    f"{keep:.0%} of free, so {'suffix passes' if fits else 'whole alt passes'} run"))
    t = p.seconds_per_window
    if t is None or p.calibration_seconds is None:
        return out
    half = w // 2
    per_sv = 4
    out += [
        ("calibration", duration(p.calibration_seconds),
         f"{p.calibration_length:,} random tokens, batch 1, best of {p.calibration_repeats}, "
         f"torch threads {p.threads}" if p.device == "cpu" else
         f"{p.calibration_length:,} random tokens, batch 1, best of {p.calibration_repeats}"),
        ("time model", *cost_model(p.family)),
        ("time per window", duration(t), f"one {w:,}-token pass, batch 1"),
        ("score-vcf", duration(1000 * p.passes_per_snv * t),
         f"per 1,000 SNVs: {p.passes_per_snv:g} passes each ({p.passes_note})"),
        ("score-vcf --tile", duration(1000 / max(half, 1) * t),
         f"per 1,000 SNVs at every position, --scores mlr: 1 ref pass per W/2 = {half:,} bases "
         f"({duration(1e6 / max(half, 1) * t)} per Mb)"),
        ("score-sv", duration(1000 * per_sv * t),
         "per 1,000 SVs: 4 passes each (2 breakpoint windows x ref, alt); half that when the SV fits one "
         "window or is a BND"),
    ]
    return out


def format_plan(p: Plan) -> str:
    """The plan as an aligned three-column table (field, value, note), one row per line."""
    table = rows(p)
    wf = max(len(r[0]) for r in table)
    wv = max(len(r[1]) for r in table)
    return "\n".join(f"{f:<{wf}}  {v:<{wv}}  {n}".rstrip() for f, v, n in table) + "\n"
