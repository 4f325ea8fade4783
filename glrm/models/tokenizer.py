"""DNA tokenizers: each checkpoint's vocabulary (`Vocabulary`), and the 12-token one most checkpoints share.

A loaded model carries its checkpoint's vocabulary as `model.vocab` (read from its tokenizer files by
`glrm.models.tokenizer_files`, else the family's known default). Everything glrm feeds a model or reads from
its logits goes through it: the ids of the four bases (the logit columns scores read), the id every other base
becomes, the [MASK] id of masked models, and the complement of each id (reverse complement).

The 12-token vocabulary of the HyenaDNA and Caduceus character tokenizers (and glrm's default for the Mamba
LM)::

    [CLS]=0 [SEP]=1 [BOS]=2 [MASK]=3 [PAD]=4 [RESERVED]=5 [UNK]=6 A=7 C=8 G=9 T=10 N=11

is `DNA12`; the module-level `encode`, `decode`, `complement_map` and `revcomp_ids` are its functions. GPN's
vocabulary (PlantCaduceus), `[PAD]=0 [MASK]=1 [UNK]=2 a=3 c=4 g=5 t=6`, is `GPN`. Checkpoints pad the
vocabulary (usually to a multiple of 8 rows); ids past the tokenizer's own are never produced.

glrm conventions (where they differ from the official tokenizers, on purpose):
- Bases are read through glrm.dna's one rule first: A/C/G/T in either case are bases (soft-masked reference
  is read as bases), then mapped to the vocabulary's spelling (upper case, or lower case for GPN). The
  official HyenaDNA tokenizers map lower-case letters to [UNK]; Caduceus upper-cases and GPN lower-cases.
- Every character that is not A/C/G/T (N, IUPAC ambiguity codes, '-', anything else) becomes `other`: the
  vocabulary's N where it has one (11 in DNA12), else its unknown token (GPN: [UNK]=2, which is what GPN's own
  tokenizer makes of 'n').
- Nothing adds special tokens: glrm scores raw windows. `prefix` / `suffix` record the ones the official
  tokenizer adds (HF HyenaDNA, Caduceus: [SEP] after; the original HyenaDNA: [CLS] before and [SEP] after;
  GPN: none); `add_special_tokens` adds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from glrm.dna import BASES, NORMALIZE_BYTES, as_bytes

CLS, SEP, BOS, MASK, PAD, RESERVED, UNK = 0, 1, 2, 3, 4, 5, 6
A, C, G, T, N = 7, 8, 9, 10, 11
VOCAB: tuple[str, ...] = ("[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]",
                          "A", "C", "G", "T", "N")
VOCAB_SIZE = len(VOCAB)  # 12 real tokens; checkpoints pad this to a multiple of 8
TOKEN_IDS: dict[str, int] = {tok: i for i, tok in enumerate(VOCAB)}
_COMPLEMENT_BASE = dict(zip(BASES, "TGCA", strict=True))
LUT_SIZE = 256   # revcomp_ids maps ids up to 255 (padding rows map to themselves)


@dataclass(frozen=True)
class Vocabulary:
    """One checkpoint's tokens, as glrm uses them. Ids index the model's embedding rows and logit columns."""

    name: str                                  # "dna12", "gpn", or the file it was read from
    tokens: tuple[str, ...]                    # the token of each id 0 .. size-1
    nucleotides: tuple[int, int, int, int]     # ids of A, C, G, T: the four logit columns scores read
    other: int                                 # the id of every non-ACGT base (N, else the unknown token)
    mask: int | None                           # [MASK] (masked models mask with it), None when absent
    pad: int | None = None
    unk: int | None = None
    complement: tuple[int, ...] = ()           # complement of each id: A<->T, C<->G, everything else itself
    prefix: tuple[int, ...] = ()               # special tokens the official tokenizer puts before the bases
    suffix: tuple[int, ...] = ()               # ... and after them
    lower_case: bool = False                   # the vocabulary spells bases in lower case (GPN)
    folds_case: bool = False                   # the official tokenizer folds case itself (Caduceus, GPN)
    source: str = ""                           # where it came from ("tokenizer.json", "default", ...)

    def __post_init__(self):
        size = len(self.tokens)
        ids = [*self.nucleotides, self.other] + [i for i in (self.mask, self.pad, self.unk) if i is not None]
        if any(not 0 <= i < size for i in ids):
            raise ValueError(f"vocabulary {self.name}: an id lies outside its {size} tokens")
        if len(set(self.nucleotides)) != 4 or self.other in self.nucleotides:
            raise ValueError(f"vocabulary {self.name}: A, C, G, T and the non-ACGT id must be distinct")
        if self.mask is not None and self.mask in self.nucleotides:
            raise ValueError(f"vocabulary {self.name}: [MASK] id {self.mask} is also a base")
        if len(self.complement) != size or sorted(self.complement) != list(range(size)):
            raise ValueError(f"vocabulary {self.name}: the complement map is not a permutation of its ids")
        a, c, g, t = self.nucleotides
        if (self.complement[a], self.complement[c], self.complement[g], self.complement[t]) != (t, g, c, a):
            raise ValueError(f"vocabulary {self.name}: the complement map does not pair A<->T and C<->G")

    @property
    def size(self) -> int:
        """Tokens of the tokenizer itself (the model's embedding may have more rows: padding)."""
        return len(self.tokens)

    # --- encoding ------------------------------------------------------------------------------
    @cached_property
    def _lut(self) -> np.ndarray:
        """byte -> id, through glrm.dna's one rule: the byte's normalized base, else `other`."""
        lut = np.full(256, self.other, dtype=np.int64)
        by_base = {ord(b): i for b, i in zip(BASES, self.nucleotides, strict=True)}
        for byte, base in enumerate(NORMALIZE_BYTES):
            lut[byte] = by_base.get(base, self.other)
        return lut

    def encode_numpy(self, seq: str | bytes) -> np.ndarray:
        """Token ids of a DNA string as an int64 array (L,), without special tokens. Vectorised."""
        return self._lut[np.frombuffer(as_bytes(seq), dtype=np.uint8)]  # (L,)

    def encode(self, seq: str | bytes) -> torch.Tensor:
        """Token ids of a DNA string as a LongTensor (L,), without special tokens."""
        return torch.from_numpy(self.encode_numpy(seq))

    def decode(self, ids) -> str:
        """Tokens of ids, joined; bases come back upper-case ("ACGTN" for DNA12, "ACGT[UNK]" for GPN)."""
        arr = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else ids).reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= self.size):
            bad = int(arr[(arr < 0) | (arr >= self.size)][0])
            raise ValueError(f"token id {bad} is outside the {self.size}-token vocabulary {self.name}")
        names = [t.upper() if i in self.nucleotides else t for i, t in enumerate(self.tokens)]
        return "".join(names[i] for i in arr.tolist())

    # --- strands -------------------------------------------------------------------------------
    def complement_map(self, size: int | None = None) -> torch.Tensor:
        """LongTensor (size,): the complement of each id; ids past the tokenizer's (padding) map to
        themselves. size None: the tokenizer's own size."""
        size = self.size if size is None else size
        if size < self.size:
            raise ValueError(f"size {size} is smaller than the {self.size}-token vocabulary {self.name}")
        cmap = torch.arange(size, dtype=torch.long)  # (V,)
        cmap[:self.size] = torch.tensor(self.complement, dtype=torch.long)
        return cmap

    @cached_property
    def _complement_np(self) -> np.ndarray:
        return self.complement_map(LUT_SIZE).numpy()

    def revcomp_ids(self, ids):
        """Reverse complement of token ids along the last axis (torch tensor or numpy array, any batch shape).
        Ids outside A/C/G/T (specials, N, padding rows up to 255) keep their id, only reversed."""
        if isinstance(ids, torch.Tensor):
            cmap = torch.from_numpy(self._complement_np).to(ids.device)
            return cmap[ids.flip(-1).long()].to(ids.dtype)
        arr = np.asarray(ids)
        return self._complement_np[arr[..., ::-1]].astype(arr.dtype, copy=False)

    # --- special tokens ------------------------------------------------------------------------
    def add_special_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Wrap ids (..., L) like the official tokenizer -> (..., len(prefix) + L + len(suffix))."""
        return _wrap(ids, self.prefix, self.suffix)

    def describe(self) -> str:
        """One line for `glrm models info`: the base ids, what other bases become, the mask, the source."""
        tok = self.tokens
        bases = " ".join(f"{tok[i]}={i}" for i in self.nucleotides)
        mask = f"mask {tok[self.mask]}={self.mask}" if self.mask is not None else "no mask token"
        return f"{self.name}: {bases}, other bases -> {tok[self.other]}={self.other}, {mask} ({self.source})"


def character_vocabulary(characters, *, name: str = "dna12", source: str = "default",
                         folds_case: bool = False, prefix: tuple[int, ...] = (),
                         suffix: tuple[int, ...] = (SEP,), complement: dict[str, str] | None = None
                         ) -> Vocabulary:
    """The HyenaDNA / Caduceus character tokenizers' layout: the 7 special tokens [CLS] [SEP] [BOS] [MASK]
    [PAD] [RESERVED] [UNK] (ids 0-6), then one id per character from 7 on. A base spelled in neither case
    is an error (ValueError); N (else [UNK]) takes every other base."""
    tokens = VOCAB[:7] + tuple(characters)
    ids = {t: i for i, t in enumerate(tokens)}
    lower = all(b not in ids and b.lower() in ids for b in BASES)
    spell = {b: (b.lower() if lower else b) for b in BASES}
    missing = [b for b in BASES if spell[b] not in ids]
    if missing:
        raise ValueError(f"the characters {list(characters)} lack the base(s) {', '.join(missing)}")
    n = "n" if lower else "N"
    comp = dict(complement or {}) or {spell[b]: spell[_COMPLEMENT_BASE[b]] for b in BASES}
    return Vocabulary(
        name=name, tokens=tokens, nucleotides=tuple(ids[spell[b]] for b in BASES),
        other=ids.get(n, UNK), mask=MASK, pad=PAD, unk=UNK,
        complement=tuple(ids.get(comp.get(t, t), i) for i, t in enumerate(tokens)),
        prefix=prefix, suffix=suffix, lower_case=lower, folds_case=folds_case, source=source)


DNA12 = character_vocabulary("ACGTN", source="default: the 12-token DNA vocabulary")

# GPN's tokenizer (PlantCaduceus): a BPE model without merges, so one token per character, after a Lowercase
# normalizer; 'n' and every other letter not in the vocabulary become [UNK]; no special tokens added.
GPN = Vocabulary(
    name="gpn", tokens=("[PAD]", "[MASK]", "[UNK]", "a", "c", "g", "t"), nucleotides=(3, 4, 5, 6),
    other=2, mask=1, pad=0, unk=2, complement=(0, 1, 2, 6, 5, 4, 3), lower_case=True, folds_case=True,
    source="default: GPN's vocabulary")



def vocabulary_of(model) -> Vocabulary:
    """A model's vocabulary: `model.vocab` (every glrm model has one), else the 12-token one (a wrapper or a
    model built outside glrm, as models built in code have)."""
    vocab = getattr(model, "vocab", None)
    return vocab if isinstance(vocab, Vocabulary) else DNA12


# the 12-token vocabulary's functions, as before per-checkpoint vocabularies (tests and tools use them)


def encode_numpy(seq: str | bytes) -> np.ndarray:
    """DNA12 token ids of a DNA string as an int64 array (L,), without special tokens."""
    return DNA12.encode_numpy(seq)


def encode(seq: str | bytes) -> torch.Tensor:
    """DNA12 token ids of a DNA string as a LongTensor (L,), without special tokens."""
    return DNA12.encode(seq)


def decode(ids) -> str:
    """Inverse of `encode` for ids 0..11; special tokens come back as their names ("[SEP]")."""
    return DNA12.decode(ids)


def complement_map(vocab_size: int = VOCAB_SIZE) -> torch.Tensor:
    """DNA12's LongTensor (V,): A<->T (7<->10), C<->G (8<->9); others (specials, N, padding) map to
    themselves."""
    return DNA12.complement_map(vocab_size)


def revcomp_ids(ids):
    """Reverse complement of DNA12 token ids along the last axis (torch tensor or numpy array)."""
    return DNA12.revcomp_ids(ids)


# --- special tokens of each family's official tokenizer (DNA12) -----------------------------------


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
    """Special tokens added by the official tokenizer of `family` (the DNA12 families).

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
    return _wrap(ids, sp.prefix, sp.suffix)


def _wrap(ids: torch.Tensor, prefix: tuple[int, ...], suffix: tuple[int, ...]) -> torch.Tensor:
    shape = ids.shape[:-1]
    pre = torch.tensor(prefix, dtype=ids.dtype, device=ids.device).expand(*shape, len(prefix))
    suf = torch.tensor(suffix, dtype=ids.dtype, device=ids.device).expand(*shape, len(suffix))
    return torch.cat([pre, ids, suf], dim=-1)
