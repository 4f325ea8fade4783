"""Pure score functions for small variants (docs/definitions.md, "Log-probabilities", "Small-variant scores").

No I/O, no model calls, no batching: tensors in, numbers out. `glrm.scoring.engine` runs the model and feeds
these functions one pass at a time; the pieces are split so that each pass can be reduced right after it ran
(the engine never holds a (W, V) or (W, H) tensor longer than its batch):

    LLR = llr_side(l_alt, o, m, M) - llr_side(l_ref, o, n, M)
    EMB = cosine_distance(emb_mean(h_ref, o, n, K), emb_mean(h_alt, o, m, K))

`llr`, `emb_distance` are the whole-window forms of the same formulas.

Conventions (docs/definitions.md):
- Log-softmax is taken over the nucleotide tokens A, C, G, T only and renormalised over them. Their ids are
  the model's vocabulary's (`nuc`: `model.vocab.nucleotides`; 7-10 in the 12-token vocabulary, the default
  here; 3-6 in GPN's).
- A position whose token is not A/C/G/T (N, [MASK], ...) contributes 0 to every log-probability sum. For
  GLRM_MLR this applies to each log-probability on its own: log p(a_i) counts 0 when a_i is N, and
  log p(r_i) counts 0 when r_i is N.
- Sums are taken in float64 from float32 (or wider) log-probabilities.
"""

from __future__ import annotations

import torch

NUC_IDS = (7, 8, 9, 10)   # A, C, G, T of the 12-token vocabulary (glrm.models.tokenizer.DNA12)
Nuc = tuple[int, int, int, int]


def _contiguous(nuc: Nuc) -> bool:
    return tuple(nuc) == tuple(range(nuc[0], nuc[0] + 4))


def nucleotide_logprobs(logits: torch.Tensor, nuc: Nuc = NUC_IDS) -> torch.Tensor:
    """(..., L, V) logits -> (..., L, 4) log-probabilities of A, C, G, T (columns `nuc`), renormalised over
    those four."""
    cols = logits[..., nuc[0]:nuc[0] + 4] if _contiguous(nuc) else logits[..., list(nuc)]
    return torch.log_softmax(cols.float(), dim=-1)  # (..., L, 4)


def _nuc_columns(ids: torch.Tensor, nuc: Nuc) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids[t] is A/C/G/T, its column 0-3 in `nucleotide_logprobs`, 0 elsewhere)."""
    if _contiguous(nuc):
        is_nuc = (ids >= nuc[0]) & (ids <= nuc[3])
        return is_nuc, torch.where(is_nuc, ids - nuc[0], torch.zeros_like(ids))
    col = torch.full_like(ids, -1)
    for i, token in enumerate(nuc):
        col = torch.where(ids == token, torch.full_like(ids, i), col)
    is_nuc = col >= 0
    return is_nuc, torch.where(is_nuc, col, torch.zeros_like(col))


def is_nucleotide(ids: torch.Tensor, nuc: Nuc = NUC_IDS) -> torch.Tensor:
    """ids (..., L) -> bool (..., L): the token is A, C, G or T (one of `nuc`)."""
    return _nuc_columns(ids, nuc)[0]


def gather_nucleotide(lp: torch.Tensor, ids: torch.Tensor, nuc: Nuc = NUC_IDS) -> torch.Tensor:
    """lp (..., L, 4), ids (..., L) -> (..., L): log p(ids[t]) at row t, 0 where ids[t] is not A/C/G/T."""
    is_nuc, col = _nuc_columns(ids, nuc)                                      # (..., L) each
    got = lp.gather(-1, col.unsqueeze(-1)).squeeze(-1)                        # (..., L)
    return torch.where(is_nuc, got, torch.zeros_like(got))


def causal_token_logprobs(logits: torch.Tensor, ids: torch.Tensor, nuc: Nuc = NUC_IDS) -> torch.Tensor:
    """Causal models: l[t] = log p(x[t] | x[:t]), read from the logits at t - 1 (no BOS is prepended).

    logits (..., L, V), ids (..., L) -> (..., L). l[0] = 0 (no prediction), and l[t] = 0 where x[t] is N.
    """
    lp = nucleotide_logprobs(logits[..., :-1, :], nuc)                     # (..., L-1, 4) for t = 1..L-1
    l_next = gather_nucleotide(lp, ids[..., 1:], nuc)                      # (..., L-1)
    return torch.cat([torch.zeros_like(l_next[..., :1]), l_next], dim=-1)  # (..., L)


def downstream_pairs(w: int, o: int, n: int, m: int) -> int:
    """M = W - o - max(n, m): the number of aligned downstream pairs (docs/definitions.md, "Small-variant
    windows")."""
    return w - o - max(n, m)


def llr_side(l: torch.Tensor, o: int, k: int, big_m: int) -> float:
    """One window's share of GLRM_LLR: sum(l[o : o + k + M]) for an allele of length k.

    The alt side is `llr_side(l_alt, o, m, M)` = sum(l_alt[o:o+m]) + sum_j l_alt[o+m+j]; the ref side is
    `llr_side(l_ref, o, n, M)`. Upstream positions [0, o) are identical in both windows and cancel exactly,
    so they are left out.
    """
    return float(l[o:o + k + big_m].double().sum())


def llr(l_ref: torch.Tensor, l_alt: torch.Tensor, o: int, n: int, m: int, big_m: int) -> float:
    """GLRM_LLR (causal models):
    sum(l_alt[o : o+m]) - sum(l_ref[o : o+n]) + sum_{j < M} (l_alt[o+m+j] - l_ref[o+n+j])."""
    return llr_side(l_alt, o, m, big_m) - llr_side(l_ref, o, n, big_m)


def mlr(lp_rows: torch.Tensor, ref_ids: torch.Tensor, alt_ids: torch.Tensor, nuc: Nuc = NUC_IDS) -> float:
    """GLRM_MLR (SNV/MNV, n == m): sum_i (log p(a_i) - log p(r_i)).

    lp_rows (n, 4): the nucleotide log-probabilities that score the variant positions o..o+n-1. For a causal
    model that is the ref pass's rows o-1 .. o+n-2 (each predicts the next base from the ref prefix); for a
    masked model the masked ref pass's rows o .. o+n-1 (positions [o, o+n) masked jointly).
    ref_ids, alt_ids (n,): the REF and ALT token ids. A non-ACGT base counts 0 on its own side.
    """
    if lp_rows.shape[0] != ref_ids.shape[0] or ref_ids.shape != alt_ids.shape:
        raise ValueError(f"MLR needs n rows and equal-length alleles, got {tuple(lp_rows.shape)}, "
                         f"{tuple(ref_ids.shape)}, {tuple(alt_ids.shape)}")
    lp = lp_rows.double()
    return float((gather_nucleotide(lp, alt_ids, nuc) - gather_nucleotide(lp, ref_ids, nuc)).sum())


def emb_span(o: int, k: int, flank: int, w: int) -> tuple[int, int]:
    """The EMB index range [o - K, o + k + K) clipped to [0, W), for an allele of length k at offset o."""
    return max(0, o - flank), min(w, o + k + flank)


def strand_symmetric(h: torch.Tensor) -> torch.Tensor:
    """RC-equivariant (Caduceus-ps) hidden states (..., 2D) -> (..., D): (h[..., :D] + flip(h[..., D:])) / 2,
    the forward half plus the channel-reversed second half, halved."""
    d = h.shape[-1] // 2
    if h.shape[-1] != 2 * d:
        raise ValueError(f"strand-symmetric combination needs an even channel count, got {h.shape[-1]}")
    return (h[..., :d] + h[..., d:].flip(-1)) / 2


def emb_mean(h: torch.Tensor, o: int, k: int, flank: int, rc_equivariant: bool = False) -> torch.Tensor:
    """Mean last hidden state (L, H) over [o - K, o + k + K) clipped to the window -> (H,) float64,
    or (H/2,) combined strand-symmetrically for RC-equivariant checkpoints (the mean commutes with it)."""
    a, b = emb_span(o, k, flank, h.shape[0])
    u = h[a:b].double().mean(dim=0)  # (H,)
    return strand_symmetric(u) if rc_equivariant else u


def cosine_distance(u: torch.Tensor, v: torch.Tensor) -> float | None:
    """1 - cos(u, v), computed stably as |u/|u| - v/|v||^2 / 2 in float64. None when either vector is 0."""
    u, v = u.double(), v.double()
    nu, nv = torch.linalg.vector_norm(u), torch.linalg.vector_norm(v)
    if float(nu) == 0.0 or float(nv) == 0.0:
        return None
    return float(torch.sum((u / nu - v / nv) ** 2) / 2)


def emb_distance(h_ref: torch.Tensor, h_alt: torch.Tensor, o: int, n: int, m: int, flank: int,
                 rc_equivariant: bool = False) -> float | None:
    """GLRM_EMB: 1 - cos(u, v), u = mean h_ref over [o-K, o+n+K), v = mean h_alt over [o-K, o+m+K), both
    clipped to [0, W); RC-equivariant hidden states are combined strand-symmetrically first."""
    return cosine_distance(emb_mean(h_ref, o, n, flank, rc_equivariant),
                           emb_mean(h_alt, o, m, flank, rc_equivariant))


# --- GLRM_CLLR: the length-balanced causal score -----------------------------------------------------

def causal_entropies(logits: torch.Tensor, ids: torch.Tensor, nuc: Nuc = NUC_IDS) -> torch.Tensor:
    """Causal models: H[t] = -sum_b p_t(b) log p_t(b), the entropy (nats) of the model's A/C/G/T prediction
    for position t (the logits at t - 1), i.e. the expected value of -l[t]. logits (L, V), ids (L,) -> (L,)
    float64; H[0] = 0 and H[t] = 0 where x[t] is not A/C/G/T, as for l."""
    lp = nucleotide_logprobs(logits[..., :-1, :], nuc).double()            # (L-1, 4)
    h = -(lp.exp() * lp).sum(-1)                                            # (L-1,)
    h = torch.where(is_nucleotide(ids[..., 1:], nuc), h, torch.zeros_like(h))
    return torch.cat([torch.zeros_like(h[..., :1]), h], dim=-1)            # (L,)


def cllr_side(l: torch.Tensor, big_h: torch.Tensor, o: int, k: int, big_m: int) -> float:
    """One window's share of GLRM_CLLR: `llr_side` plus sum(H[o : o + k]), the allele's k bases each taken
    relative to its expected log-probability (docs/definitions.md, "GLRM_CLLR"). CLLR is the alt side minus
    the ref side, so CLLR = LLR + sum(H_alt[o:o+m]) - sum(H_ref[o:o+n])."""
    return llr_side(l, o, k, big_m) + float(big_h[o:o + k].double().sum())


# --- published recipes (docs/scores.md, "Relation to published recipes") -----------------------------

def mean_full_vocab_ll(logits: torch.Tensor, ids: torch.Tensor) -> float:
    """Evo 2's sequence score: the mean over positions t = 1 .. L-1 of log p(x[t] | x[:t]) with the softmax
    over the model's whole vocabulary (every logit column, N and special tokens included). logits (L, V),
    ids (L,)."""
    lp = torch.log_softmax(logits[:-1].float(), dim=-1)                     # (L-1, V)
    got = lp.gather(-1, ids[1:, None].to(lp.device))[:, 0]                  # (L-1,)
    return float(got.double().mean())


def flat_distances(h_ref: torch.Tensor, h_alt: torch.Tensor) -> tuple[float, float]:
    """GPN's embedding scores of one strand: (1 - cos, Euclidean distance) between the whole windows' last
    hidden states (L, H) flattened to one vector each, as torch's cosine_similarity (norm product floored at
    1e-8) and pairwise_distance (eps 1e-6 added to the difference) give them; float64."""
    x, y = h_ref.reshape(-1).double(), h_alt.reshape(-1).double()
    dot = torch.dot(x, y)
    norms = torch.linalg.vector_norm(x) * torch.linalg.vector_norm(y)
    cos = dot / torch.clamp(norms, min=1e-8)
    euc = torch.linalg.vector_norm(x - y + 1e-6)
    return float(1 - cos), float(euc)
