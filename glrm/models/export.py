"""Save a glrm model as an official checkpoint folder, so other tools (and glrm itself) can load it.

HyenaDNA goes out in the Hugging Face port's layout (`LongSafari/hyenadna-*-seqlen-hf`,
`HyenaDNAForCausalLM`):

  config.json         the HF port's `HyenaConfig` as `save_pretrained` writes it: every key the port writes
                      (model_type "hyenadna", architectures, auto_map, dropouts, ...), sorted, 2-space indent
  model.safetensors   keys `hyena.backbone.*` and `lm_head.weight`, metadata {"format": "pt"}. The Sin module
                      shared by every Sin position of a filter MLP is stored once, under position 1, as
                      `save_pretrained` does for shared tensors; a tied LM head is left out for the same
                      reason.

Caduceus goes out in its Hugging Face layout (`kuleshov-group/caduceus-*`, `CaduceusForMaskedLM`):
config.json as `save_pretrained` writes it, and model.safetensors with the `caduceus.backbone.*` / `lm_head.*`
keys, where the tied tensors (the LM head = the word embeddings; with bidirectional_weight_tie, mamba_rev's
in_proj/out_proj = mamba_fwd's) are stored once, under the first name, as `save_pretrained` does.

Used by scripts/train_demo_model.py (the demo checkpoint) and for benchmark checkpoints. The folders load
back through `glrm.models.load_model` (formats "hyenadna-hf", "caduceus") with identical outputs, and saving a
fixture reproduces its official files (tests/test_export.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from glrm.errors import OutputError
from glrm.io.atomic import atomic_path
from glrm.models.caduceus import Caduceus
from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig

# Keys of the HF port's config.json that do not come from the architecture: the values its HyenaConfig
# defaults to (dropouts are training-time only; glrm never applies them). transformers_version records the
# save_pretrained release whose output this layout was checked against (tests/fixtures/hyenadna-hf-tiny).
HF_CONFIG_CONSTANTS = {
    "architectures": ["HyenaDNAForCausalLM"],
    "auto_map": {
        "AutoConfig": "configuration_hyena.HyenaConfig",
        "AutoModel": "modeling_hyena.HyenaDNAModel",
        "AutoModelForCausalLM": "modeling_hyena.HyenaDNAForCausalLM",
        "AutoModelForSequenceClassification": "modeling_hyena.HyenaDNAForSequenceClassification",
    },
    "embed_dropout": 0.1,
    "hyena_dropout": 0.0,
    "hyena_filter_dropout": 0.0,
    "initializer_range": 0.02,
    "model_type": "hyenadna",
    "train_freq": True,
    "transformers_version": "4.38.1",
    "use_bias": True,
}
CADUCEUS_CONFIG_CONSTANTS = {
    "architectures": ["CaduceusForMaskedLM"],
    "auto_map": {
        "AutoConfig": "configuration_caduceus.CaduceusConfig",
        "AutoModel": "modeling_caduceus.Caduceus",
        "AutoModelForMaskedLM": "modeling_caduceus.CaduceusForMaskedLM",
        "AutoModelForSequenceClassification": "modeling_caduceus.CaduceusForSequenceClassification",
    },
    # training-time initialisation settings of the released checkpoints; loading ignores them
    "initializer_cfg": {"initializer_range": 0.02, "n_residuals_per_layer": 1,
                        "rescale_prenorm_residual": True},
    "model_type": "caduceus",
    "transformers_version": "4.38.1",
}
CADUCEUS_CONFIG_KEYS = ("bidirectional", "bidirectional_strategy", "bidirectional_weight_tie", "d_model",
                        "fused_add_norm", "n_layer", "norm_epsilon", "pad_vocab_size_multiple", "rcps",
                        "residual_in_fp32", "rms_norm", "vocab_size")
HF_WEIGHTS = "model.safetensors"
_DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def hyenadna_hf_config(cfg: HyenaDNAConfig, dtype: torch.dtype = torch.float32) -> dict:
    """The HF port's config.json for `cfg`. Raises ValueError for what that format cannot express."""
    if not cfg.modulate:
        raise ValueError("the HyenaDNA HF format always applies the filter's exponential modulation; "
                         "a model with modulate=False can only be saved in the original format")
    if cfg.block_norm_epsilon != 1e-5:
        raise ValueError(f"the HyenaDNA HF format fixes the block LayerNorm eps at 1e-5; this model uses "
                         f"{cfg.block_norm_epsilon}")
    if dtype not in _DTYPE_NAMES:
        raise ValueError(f"dtype {dtype} cannot be saved; use float32, bfloat16 or float16")
    config = dict(HF_CONFIG_CONSTANTS)
    config.update(
        activation_freq=_number(cfg.activation_freq),
        d_inner=cfg.d_inner,
        d_model=cfg.d_model,
        emb_dim=cfg.emb_dim,
        filter_order=cfg.filter_order,
        hyena_order=cfg.hyena_order,
        layer_norm_epsilon=cfg.final_norm_epsilon,
        max_seq_len=cfg.max_seq_len,
        n_layer=cfg.n_layer,
        num_inner_mlps=cfg.num_inner_mlps,
        pad_vocab_size_multiple=cfg.pad_vocab_size_multiple,
        short_filter_order=cfg.short_filter_order,
        tie_word_embeddings=cfg.tie_word_embeddings,
        torch_dtype=_DTYPE_NAMES[dtype],
        vocab_size=cfg.vocab_size,
    )
    return dict(sorted(config.items()))


def hyenadna_hf_state(model: HyenaDNA, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The model's weights under the HF port's names, shared tensors once, as contiguous CPU copies."""
    cfg = model.cfg
    if cfg.tie_word_embeddings and not torch.equal(model.lm_head.weight,
                                                   model.backbone.embeddings.word_embeddings.weight):
        raise ValueError("config says tie_word_embeddings, but lm_head.weight differs from the word "
                         "embeddings; the HF format stores a tied head once, so copy the embeddings into the "
                         "head or untie")
    shared_sin = {f"backbone.layers.{i}.mixer.filter_fn.implicit_filter.{1 + 2 * j}.freq"
                  for i in range(cfg.n_layer) for j in range(1, cfg.num_inner_mlps + 1)}
    out: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        if name in shared_sin:
            continue  # the same Sin module as position 1 of this filter MLP
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue  # the word embeddings themselves
        key = name if name == "lm_head.weight" else "hyena." + name
        t = tensor.detach().to("cpu")
        out[key] = (t.to(dtype) if t.is_floating_point() else t).contiguous().clone()
    return out


def caduceus_hf_config(model: Caduceus, dtype: torch.dtype = torch.float32) -> dict:
    """The official config.json for a glrm Caduceus (its normalised config plus the constant keys)."""
    if dtype not in _DTYPE_NAMES:
        raise ValueError(f"dtype {dtype} cannot be saved; use float32, bfloat16 or float16")
    cfg = model.cfg
    config = dict(CADUCEUS_CONFIG_CONSTANTS)
    config.update({k: cfg[k] for k in CADUCEUS_CONFIG_KEYS})
    config["ssm_cfg"] = dict(cfg["ssm_cfg"])
    cmap = cfg["complement_map"]
    # integer keys, so sort_keys orders them numerically, as the official config (ints) is written
    config["complement_map"] = {int(k): int(v) for k, v in cmap.items()} if cmap else None
    config["torch_dtype"] = _DTYPE_NAMES[dtype]
    return config


def caduceus_hf_state(model: Caduceus, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """State dict with every tied tensor once, under its first name (embeddings before the LM head,
    mamba_fwd before mamba_rev), as contiguous CPU copies."""
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple] = set()
    for name, tensor in model.state_dict().items():
        ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
                 tuple(tensor.stride()))
        if ident in seen:
            continue
        seen.add(ident)
        t = tensor.detach().to("cpu")
        out[name] = (t.to(dtype) if t.is_floating_point() else t).contiguous().clone()
    return out


def save_hyenadna_hf(model: HyenaDNA, folder: str | os.PathLike, *, dtype: torch.dtype = torch.float32,
                     overwrite: bool = False) -> Path:
    """Write `model` to `folder` (created if needed) as config.json + model.safetensors in the HF port layout.

    Each file is written atomically; the weights go first, so an interrupted export leaves no config.json
    and the folder is never mistaken for a complete checkpoint. Returns the folder.
    """
    if not isinstance(model, HyenaDNA):
        raise TypeError(f"save_hyenadna_hf needs a glrm HyenaDNA model, got {type(model).__name__}")
    try:
        config = hyenadna_hf_config(model.cfg, dtype)
        state = hyenadna_hf_state(model, dtype)
    except ValueError as exc:
        raise OutputError(f"{folder}: cannot save in the HyenaDNA HF format: {exc}") from None
    return _write_folder(Path(folder), config, state, overwrite)


def save_caduceus_hf(model: Caduceus, folder: str | os.PathLike, *, dtype: torch.dtype = torch.float32,
                     overwrite: bool = False) -> Path:
    """Write a glrm Caduceus to `folder` as config.json + model.safetensors in the official HF layout."""
    if not isinstance(model, Caduceus):
        raise TypeError(f"save_caduceus_hf needs a glrm Caduceus model, got {type(model).__name__}")
    try:
        config = caduceus_hf_config(model, dtype)
    except ValueError as exc:
        raise OutputError(f"{folder}: cannot save in the Caduceus format: {exc}") from None
    return _write_folder(Path(folder), config, caduceus_hf_state(model, dtype), overwrite)


def _write_folder(out: Path, config: dict, state: dict[str, torch.Tensor], overwrite: bool) -> Path:
    from safetensors.torch import save_file

    existing = [n for n in ("config.json", HF_WEIGHTS) if (out / n).exists()]
    if existing and not overwrite:
        raise OutputError(f"{out}: already holds {', '.join(existing)}; choose an empty folder or pass "
                          "overwrite=True")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the folder ({exc.strerror}); choose another path") from None
    with atomic_path(out / HF_WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    with atomic_path(out / "config.json") as tmp:
        Path(tmp).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


__all__ = ["caduceus_hf_config", "caduceus_hf_state", "hyenadna_hf_config", "hyenadna_hf_state",
           "save_caduceus_hf", "save_hyenadna_hf"]
