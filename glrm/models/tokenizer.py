"""DNA character tokenizer shared by every glrm model (HyenaDNA, Caduceus, Mamba).

All three families use the same 12-token character vocabulary::

    [CLS]=0 [SEP]=1 [BOS]=2 [MASK]=3 [PAD]=4 [RESERVED]=5 [UNK]=6 A=7 C=8 G=9 T=10 N=11

Checkpoints pad the vocabulary (usually to 16 rows); ids 12.. are never produced by `encode`.

glrm conventions (where they differ from the official tokenizers, on purpose):
- Input is upper-cased, so soft-masked (lower-case) reference bases are read as bases. The official
  HyenaDNA tokenizers map lower-case letters to [UNK]; the Caduceus one upper-cases like glrm.
- Every character that is not A/C/G/T (N, IUPAC ambiguity codes, '-', anything else) becomes N=11.
- `encode` adds no special tokens. glrm's scoring feeds raw windows unless told otherwise; the
  official tokenizers' special tokens are described by `special_tokens(family)` and can be added
  with `add_special_tokens` (HF HyenaDNA, Caduceus and the Mamba LM append [SEP]; the original
  HyenaDNA `CharacterTokenizer` prepends [CLS] and appends [SEP]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glrm.dna import NORMALIZE_BYTES, as_bytes

CLS, SEP, BOS, MASK, PAD, RESERVED, UNK = 0, 1, 2, 3, 4, 5, 6
A, C, G, T, N = 7, 8, 9, 10, 11
VOCAB: tuple[str, ...] = ("[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]",
                          "A", "C", "G", "T", "N")
VOCAB_SIZE = len(VOCAB)  # 12 real tokens; checkpoints pad this to a multiple of 8
TOKEN_IDS: dict[str, int] = {tok: i for i, tok in enumerate(VOCAB)}

# byte -> token id, through glrm.dna's one rule: the byte's normalized base (A/C/G/T in either case), else N
_ENCODE_LUT = np.full(256, N, dtype=np.int64)
for _byte, _base in enumerate(NORMALIZE_BYTES):
    _ENCODE_LUT[_byte] = {ord("A"): A, ord("C"): C, ord("G"): G, ord("T"): T}.get(_base, N)


def encode_numpy(seq: str | bytes) -> np.ndarray:
    """Token ids of a DNA string as an int64 array (L,), without special tokens. Vectorised (1 Mbp ~ ms)."""
    return _ENCODE_LUT[np.frombuffer(as_bytes(seq), dtype=np.uint8)]  # (L,)


def encode(seq: str | bytes) -> torch.Tensor:
    """Token ids of a DNA string as a LongTensor (L,), without special tokens."""
    return torch.from_numpy(encode_numpy(seq))


def decode(ids) -> str:
    """Inverse of `encode` for ids 0..11; special tokens come back as their names ("[SEP]")."""
    arr = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else ids).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= VOCAB_SIZE):
        bad = int(arr[(arr < 0) | (arr >= VOCAB_SIZE)][0])
        raise ValueError(f"token id {bad} is outside the {VOCAB_SIZE}-token DNA vocabulary")
    return "".join(VOCAB[i] for i in arr.tolist())


def complement_map(vocab_size: int = VOCAB_SIZE) -> torch.Tensor:
    """LongTensor (V,): A<->T (7<->10), C<->G (8<->9); others (specials, N, padding) map to themselves."""
    if vocab_size < VOCAB_SIZE:
        raise ValueError(f"vocab_size {vocab_size} is smaller than the {VOCAB_SIZE}-token DNA vocabulary")
    cmap = torch.arange(vocab_size, dtype=torch.long)  # (V,)
    cmap[A], cmap[T], cmap[C], cmap[G] = T, A, G, C
    return cmap


_COMPLEMENT_NP = complement_map(256).numpy()


def revcomp_ids(ids):
    """Reverse complement of token ids along the last axis (torch tensor or numpy array, any batch shape).

    Ids outside A/C/G/T (specials, N, padding rows up to 255) are left as they are, only reversed.
    """
    if isinstance(ids, torch.Tensor):
        cmap = torch.from_numpy(_COMPLEMENT_NP).to(ids.device)
        return cmap[ids.flip(-1).long()].to(ids.dtype)
    arr = np.asarray(ids)
    return _COMPLEMENT_NP[arr[..., ::-1]].astype(arr.dtype, copy=False)


# --- special tokens of each family's official tokenizer ------------------------------------------


@dataclass(frozen=True)
class SpecialTokens:
    """Ids the official tokenizer puts before and after the bases."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]


_SPECIALS = {
    "hyenadna-hf": SpecialTokens(prefix=(), suffix=(SEP,)),
    "hyenadna-orig": SpecialTokens(prefix=(CLS,), suffix=(SEP,)),
    "caduceus": SpecialTokens(prefix=(), suffix=(SEP,)),
    "mamba": SpecialTokens(prefix=(), suffix=(SEP,)),
}


def special_tokens(family: str) -> SpecialTokens:
    """Special tokens added by the official tokenizer of `family`.

    family: "hyenadna-hf" (HF port, `LongSafari/*-seqlen-hf`), "hyenadna-orig" (original release),
    "caduceus" or "mamba". glrm scores raw windows (no specials) unless told otherwise.
    """
    try:
        return _SPECIALS[family]
    except KeyError:
        known = sorted(_SPECIALS)
        raise ValueError(f"unknown tokenizer family {family!r}; expected one of {known}") from None


def add_special_tokens(ids: torch.Tensor, family: str) -> torch.Tensor:
    """Wrap ids (..., L) like `family`'s official tokenizer -> (..., len(prefix) + L + len(suffix))."""
    sp = special_tokens(family)
    shape = ids.shape[:-1]
    pre = torch.tensor(sp.prefix, dtype=ids.dtype, device=ids.device).expand(*shape, len(sp.prefix))
    suf = torch.tensor(sp.suffix, dtype=ids.dtype, device=ids.device).expand(*shape, len(sp.suffix))
    return torch.cat([pre, ids, suf], dim=-1)
