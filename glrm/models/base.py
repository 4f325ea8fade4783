"""What every glrm model shares: the output type, the model interface, and strict weight loading.

Architectures live one per file beside this one (hyenadna.py, mamba.py, caduceus.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from glrm.errors import InputError


@dataclass
class ModelOutput:
    logits: torch.Tensor         # (B, L, V) float32; V = the checkpoint's padded vocab
    hidden_states: torch.Tensor  # (B, L, H) last hidden state after the final norm


class GenomicLM(nn.Module):
    """Base of glrm's models. Subclasses set the class attributes and implement `forward`.

    forward(input_ids: LongTensor (B, L), chunk_size: int | None = None) -> ModelOutput
    """

    kind: str = "causal"           # "causal" (HyenaDNA, Mamba LM) or "masked" (Caduceus)
    rc_equivariant: bool = False   # Caduceus-ps: both strands in one pass
    max_length: int = 0            # trained context, in tokens
    family: str = ""               # "hyenadna" | "caduceus" | "mamba"


# --- weight files (the names glrm reads are in registry.WEIGHT_FILES) -----------------------------


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a weight file safely: safetensors, or torch.load with weights_only=True (never full pickle).

    A Lightning `weights.ckpt` returns its inner `state_dict`.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for anything that is not plain tensors and containers
        raise InputError(
            f"{path}: cannot be read as a weights-only checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}); glrm never unpickles arbitrary objects, "
            "convert it to safetensors"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    return dict(obj)


def load_strict(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Copy `state` into `module`; every key must be present with the right shape, and none extra.

    Errors list the missing and unexpected keys and the shape mismatches, so a user can see which
    checkpoint format or config option is off.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_short(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches {_short(shapes)}")
        raise InputError(
            f"{source}: weights do not match config.json: " + "; ".join(parts)
            + " (is config.json from the same checkpoint?)"
        )
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(state[k].to(dtype=v.dtype) if v.is_floating_point() else state[k])


def _short(items: list[str], n: int = 8) -> str:
    more = f" ... (+{len(items) - n} more)" if len(items) > n else ""
    return "[" + ", ".join(items[:n]) + more + "]"
