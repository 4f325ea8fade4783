"""glrm's own PyTorch implementations of HyenaDNA, Mamba and Caduceus, and their checkpoint loaders.

Public API::

    from glrm.models import load_model
    model = load_model(path_or_name, device="cpu", dtype=torch.float32)
    out = model(input_ids, chunk_size=None)   # out.logits (B, L, V), out.hidden_states (B, L, H)

`path_or_name` is a checkpoint folder, or a known name / repo id found in the local Hugging Face cache
(glrm.models.registry; never the network). `model.info` (glrm.models.info.ModelInfo) holds what glrm knows
about it: family, kind, rc_equivariant, max_length (and its source), name, checkpoint, weights_file, sha256,
format, stored_dtype and tokenizer; `model.vocab` (glrm.models.tokenizer.Vocabulary) its checkpoint's tokens:
the ids of A/C/G/T, of other bases and of [MASK], and the complement of each id.
Importing this package does not import torch.
"""

from __future__ import annotations


def load_model(path_or_name, device="cpu", dtype=None):
    """Load a checkpoint folder (or a known model name from the local cache); see loading.py."""
    from glrm.models.loading import load_model as _load

    return _load(path_or_name, device=device, dtype=dtype)


__all__ = ["load_model"]
