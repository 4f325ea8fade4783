"""Causal prefix reuse for Mamba LMs: an alt pass starts from the ref pass's carried state at the variant.

A small-variant alt window shares its first o tokens with its ref window (alt = G[g0:s] + ALT + ...), and a
causal model's outputs on those tokens, and its state after them, are the ref pass's. A Mamba LM's whole
state at a position is, per layer, the mixer's conv and SSM state (the residual stream is position-wise), so
`MambaLM.forward_stateful(alt[o:], state_ref_at_o)` gives exactly the alt pass's outputs on [o, W) (the same
computation as an unchunked pass, cut at o: chunked == unchunked to float rounding). Per alt pass this runs
W - o tokens instead of W: half the alt work with the centred windows of the default mode, and in tile mode
the share after the variant of its tile.

`run_linked` runs a batch of ref passes segment by segment, cut at every offset one of their alt passes
starts at, keeps the state after each segment for the alt passes that start there, and runs those alt
suffixes in batches as soon as enough are pending (left-aligned, N-padded at the end: padding after the
last real token cannot change the outputs before it). Each pass is handed on with its full (W, V) logits
and (W, H) hidden states, the alt pass's first o rows copied from its ref pass.

HyenaDNA has no such state (its long convolution reads the whole prefix), but it is causal and its long
convolution is linear: an alt pass's outputs on [o, W) follow from the ref pass's per-layer long-convolution
input and output plus a convolution of the alt-minus-ref difference over the suffix alone
(glrm.models.hyena_suffix). `run_linked` dispatches HyenaDNA models to `_run_linked_hyenadna`: one ref pass
that keeps those tensors, then the alt suffixes, `batch_size` at a time, with the same contract. Kept
tensors cost about 2 * n_layer * W * d_model floats per ref pass: the refs run in groups whose kept tensors
fit in `glrm.resources.PREFIX_KEEP_FRACTION` of the free memory; a ref whose own do not fit (or
hyena_order > 2) runs with its alt passes whole (same results, logged once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

from glrm import resources
from glrm.models import hyena_suffix
from glrm.models.mamba import MixerState
from glrm.models.tokenizer import vocabulary_of

log = logging.getLogger(__name__)

Emit = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]  # (index, ids, logits, hidden)


def supports_prefix_reuse(model) -> bool:
    """True for models whose whole carried state `forward_stateful` returns (the Mamba LM), and for HyenaDNA
    with hyena_order 2 (alt suffixes, `_run_linked_hyenadna`; measured faster: benchmarks/bench_prefix.py)."""
    info = model.info
    if info.kind == "causal" and info.family == "hyenadna":
        return hyena_suffix.supports_suffix(model)
    return info.kind == "causal" and info.family == "mamba" and hasattr(model, "forward_stateful")


def _rows(state: list[MixerState], r: int) -> list[MixerState]:
    return [MixerState(s.conv[r:r + 1], s.ssm[r:r + 1]) for s in state]


def _stack(states: Sequence[list[MixerState]]) -> list[MixerState]:
    return [MixerState(torch.cat([st[i].conv for st in states]), torch.cat([st[i].ssm for st in states]))
            for i in range(len(states[0]))]


def run_linked(model, refs: Sequence[torch.Tensor], alts: Sequence[tuple[int, torch.Tensor, int]],
               batch_size: int, chunk_size: int | None, emit_ref: Emit, emit_alt: Emit) -> int:
    """Run ref passes `refs` (each (W,) token ids, one W) as one batch and their alt passes `alts`
    ((parent index into refs, alt ids (W,), o) with alt[:o] == ref[:o] and 1 <= o < W) from the ref
    states, `batch_size` alt suffixes at a time. Calls emit_ref(i, ids, logits (W, V), hidden (W, H)) once per
    ref and emit_alt(j, ...) once per alt. Returns the number of alt suffix tokens run."""
    w = int(refs[0].numel())
    for j, (parent, ids, o) in enumerate(alts):   # on the host, before any work: a wrong o is a wrong score
        if not 1 <= o < w or ids.numel() != w:
            raise ValueError(f"alt pass {j}: offset {o} or length {ids.numel()} does not fit window {w}")
        if not torch.equal(ids[:o].cpu(), refs[parent][:o].cpu()):
            raise ValueError(f"alt pass {j}: its first {o} tokens differ from those of ref pass {parent}")
    if model.info.family == "hyenadna":
        return _run_linked_hyenadna(model, refs, alts, batch_size, chunk_size, emit_ref, emit_alt)
    device = next(model.parameters()).device
    pad = vocabulary_of(model).other   # its N: padding after the last real token changes nothing before it
    ref_ids = torch.stack(list(refs)).to(device)  # (R, W)
    by_start: dict[int, list[int]] = {}
    for j, (_parent, _ids, o) in enumerate(alts):
        by_start.setdefault(o, []).append(j)
    logits = hidden = None   # (R, W, V), (R, W, H): the ref outputs, filled segment by segment
    state, pos, pending, tokens = None, 0, [], 0

    def flush() -> None:
        nonlocal tokens
        if not pending:
            return
        lo = min(o for _j, o, _s in pending)
        ids = torch.full((len(pending), w - lo), pad, dtype=torch.long)  # (B, W - min o), N-padded
        for b, (j, o, _s) in enumerate(pending):
            ids[b, :w - o] = alts[j][1][o:]
        out, _ = model.forward_stateful(ids.to(device), _stack([s for _j, _o, s in pending]), chunk_size)
        for b, (j, o, _s) in enumerate(pending):
            r = alts[j][0]
            lg = torch.cat([logits[r, :o], out.logits[b, :w - o]])          # (W, V)
            hd = torch.cat([hidden[r, :o], out.hidden_states[b, :w - o]])   # (W, H)
            emit_alt(j, alts[j][1].to(device), lg, hd)
            tokens += w - o
        pending.clear()

    for cut in [*sorted(by_start), w]:
        out, state = model.forward_stateful(ref_ids[:, pos:cut], state, chunk_size)
        if logits is None:
            logits = out.logits.new_empty(len(refs), w, out.logits.shape[-1])
            hidden = out.hidden_states.new_empty(len(refs), w, out.hidden_states.shape[-1])
        logits[:, pos:cut] = out.logits
        hidden[:, pos:cut] = out.hidden_states
        pos = cut
        for j in by_start.get(cut, ()):
            pending.append((j, cut, _rows(state, alts[j][0])))
            if len(pending) >= batch_size:
                flush()
    flush()
    for r in range(len(refs)):
        emit_ref(r, ref_ids[r], logits[r], hidden[r])
    return tokens


# --- HyenaDNA: alt suffixes from the ref pass's long-convolution inputs and outputs ----------------------

def _run_linked_hyenadna(model, refs: Sequence[torch.Tensor], alts: Sequence[tuple[int, torch.Tensor, int]],
                         batch_size: int, chunk_size: int | None, emit_ref: Emit, emit_alt: Emit) -> int:
    """`run_linked` for HyenaDNA: the refs in groups whose kept tensors fit in PREFIX_KEEP_FRACTION of the
    free memory (glrm.resources), each group by `_suffixes`; a ref whose kept tensors alone do not fit runs
    whole with its alts (logged once). Returns the number of alt tokens run (W per alt pass run whole)."""
    w = int(refs[0].numel())
    device = next(model.parameters()).device
    children: list[list[int]] = [[] for _ in refs]
    for j, (parent, _ids, _o) in enumerate(alts):
        children[parent].append(j)
    allowance = resources.PREFIX_KEEP_FRACTION * resources.free_memory_bytes(device)
    need = [hyena_suffix.kept_bytes(model, 1, w, [alts[j][2] for j in js]) for js in children]
    groups: list[tuple[list[int], bool]] = []   # (ref indices, by suffixes) in input order
    used: float | None = None                     # kept bytes of the open suffix group (None: none open)
    suffix_ok = hyena_suffix.supports_suffix(model)
    for r in range(len(refs)):
        if not suffix_ok or need[r] > allowance:
            _warn_whole(model, need[r], allowance)
            groups.append(([r], False))
            used = None
        elif used is not None and used + need[r] <= allowance:
            groups[-1][0].append(r)
            used += need[r]
        else:
            groups.append(([r], True))
            used = need[r]
    tokens = 0
    for rs, by_suffix in groups:
        js = [j for r in rs for j in children[r]]
        local = {r: i for i, r in enumerate(rs)}
        sub_alts = [(local[alts[j][0]], alts[j][1], alts[j][2]) for j in js]
        ref_ids = torch.stack([refs[r] for r in rs]).to(device)   # (R', W)
        tokens += (_suffixes if by_suffix else _run_whole)(
            model, ref_ids, sub_alts, batch_size, chunk_size,
            lambda i, *out, rs=rs: emit_ref(rs[i], *out), lambda k, *out, js=js: emit_alt(js[k], *out))
    return tokens


_warned: set[str] = set()


def _warn_whole(model, need: float, allowance: float) -> None:
    name = model.info.name
    key = f"{name}:{hyena_suffix.supports_suffix(model)}"
    if key in _warned:
        return
    _warned.add(key)
    if not hyena_suffix.supports_suffix(model):
        log.warning("%s: hyena_order > 2, so alt passes run whole (no suffix reuse; same scores)", name)
    else:
        log.warning("%s: a ref pass would keep %.3g GiB for its alt suffixes, over %.0f%% of the free memory "
                    "(%.3g GiB allowed); its alt passes run whole (same scores, more time). A shorter "
                    "--window or a device with more free memory brings suffix reuse back", name,
                    need / 2**30, 100 * resources.PREFIX_KEEP_FRACTION, allowance / 2**30)


def _suffixes(model, ref_ids: torch.Tensor, alts: Sequence[tuple[int, torch.Tensor, int]], batch_size: int,
              chunk_size: int | None, emit_ref: Emit, emit_alt: Emit) -> int:
    """One batch of ref passes that keep what alt suffixes need (hyena_suffix.ref_forward), then the alt
    suffixes in order of offset, `batch_size` at a time (left-aligned, padded at the end), each handed on
    with its first o rows from its ref pass."""
    w = ref_ids.shape[1]
    device = ref_ids.device
    out, cache = hyena_suffix.ref_forward(model, ref_ids, [o for _r, _ids, o in alts], chunk_size)
    tokens = 0
    order = sorted(range(len(alts)), key=lambda j: alts[j][2])   # similar suffix lengths batch together
    for i in range(0, len(order), batch_size):
        js = order[i:i + batch_size]
        ids = torch.stack([alts[j][1] for j in js]).to(device)  # (B, W)
        parents, starts = [alts[j][0] for j in js], [alts[j][2] for j in js]
        sfx = hyena_suffix.suffix_forward(model, cache, ids, parents, starts, chunk_size)
        for b, j in enumerate(js):
            r, _ids, o = alts[j]
            lg = torch.cat([out.logits[r, :o], sfx.logits[b, :w - o]])          # (W, V)
            hd = torch.cat([out.hidden_states[r, :o], sfx.hidden_states[b, :w - o]])   # (W, H)
            emit_alt(j, ids[b], lg, hd)
            tokens += w - o
        del sfx
    del cache
    for r in range(ref_ids.shape[0]):
        emit_ref(r, ref_ids[r], out.logits[r], out.hidden_states[r])
    return tokens


def _run_whole(model, ref_ids: torch.Tensor, alts: Sequence[tuple[int, torch.Tensor, int]], batch_size: int,
               chunk_size: int | None, emit_ref: Emit, emit_alt: Emit) -> int:
    """The same contract with every pass run whole: the refs as one batch, the alts `batch_size` at a time."""
    out = model(ref_ids, chunk_size=chunk_size)
    for r in range(ref_ids.shape[0]):
        emit_ref(r, ref_ids[r], out.logits[r], out.hidden_states[r])
    del out
    w = ref_ids.shape[1]
    for i in range(0, len(alts), batch_size):
        ids = torch.stack([x for _r, x, _o in alts[i:i + batch_size]]).to(ref_ids.device)  # (B, W)
        out = model(ids, chunk_size=chunk_size)
        for b in range(ids.shape[0]):
            emit_alt(i + b, ids[b], out.logits[b], out.hidden_states[b])
    return len(alts) * w
