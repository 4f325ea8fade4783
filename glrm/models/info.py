"""What glrm knows about a model besides its weights: `ModelInfo`, and the rule for its trained window.

Every glrm model carries one frozen `ModelInfo` as `model.info` (docs/models.md, "Python API"). The model
class builds it from its config when the model is made (family, kind, RC-equivariance, and HyenaDNA's
`max_seq_len`); `glrm.models.loading.load_model` replaces it, once, with the full one (the checkpoint's
name, folder, weight file and its SHA-256, format, stored dtype, and the trained length with its source).
A model built in code keeps the defaults below for what only a checkpoint can tell.

No torch here: the registry and the window checks that run before any weights load use it too.
"""

from __future__ import annotations

from dataclasses import dataclass

# HyenaDNA's max_seq_len counts two special tokens besides the bases: the released checkpoints were trained on
# `seqlen` bases with room for the [CLS] and [SEP] the original tokenizer adds (max_seq_len = seqlen + 2: 1026
# for the 1k model). glrm feeds bases only (glrm.models.tokenizer).
HYENADNA_SPECIAL_TOKENS = 2


def trained_window(family: str, max_length: int) -> int:
    """The trained context in bases of a model whose trained length is `max_length` tokens: HyenaDNA
    `max_length - 2` (the special tokens, above), Caduceus and Mamba `max_length`.

    It is the default window of score-vcf, score-sv and plan, and the longest window HyenaDNA is given
    (`window_is_limit`); Caduceus and Mamba take longer windows with a warning (extrapolation).
    """
    return max_length - HYENADNA_SPECIAL_TOKENS if family == "hyenadna" else max_length


def window_is_limit(family: str) -> bool:
    """True when no window may be longer than `trained_window`: HyenaDNA, whose positional embedding has
    max_seq_len rows and cannot extrapolate. Caduceus and Mamba run any length."""
    return family == "hyenadna"


@dataclass(frozen=True)
class ModelInfo:
    """A model's declared facts; `model.info`. Output headers, plans and `glrm models info` read them."""

    family: str                     # "hyenadna" | "caduceus" | "mamba"
    kind: str                       # "causal" (HyenaDNA, Mamba) | "masked" (Caduceus)
    rc_equivariant: bool = False    # Caduceus-ps: one pass gives both strands
    max_length: int = 0             # trained length in tokens (HyenaDNA max_seq_len); 0 when not known
    max_length_source: str = ""     # where max_length came from ("config.json max_seq_len", "default", ...)
    # from the checkpoint (load_model); a model built in code keeps these defaults
    name: str = ""                  # registry name, repo id or folder name; a model built in code: its class
    checkpoint: str = ""            # the checkpoint folder
    weights_file: str = ""          # the weight file read
    sha256: str = ""                # SHA-256 of that file
    format: str = ""                # "hyenadna-hf" | "hyenadna-orig" | "caduceus" | "mamba" | "mamba-hf"
    stored_dtype: str = ""          # floating dtype of the stored weights ("float32", "bfloat16", ...)
    tokenizer: str = ""             # the vocabulary in one line (model.vocab.describe(): base ids, source)

    @property
    def trained_window(self) -> int:
        """The trained context in bases (the module function `trained_window`)."""
        return trained_window(self.family, self.max_length)

    @property
    def window_is_limit(self) -> bool:
        """True when windows longer than `trained_window` are refused (HyenaDNA)."""
        return window_is_limit(self.family)


__all__ = ["HYENADNA_SPECIAL_TOKENS", "ModelInfo", "trained_window", "window_is_limit"]
