"""Load a checkpoint folder (or a cached known model) into one of glrm's own models.

The folder's format is detected from its config.json and files:

  format          config.json                                        weights (first found wins)
  hyenadna-hf     model_type "hyenadna"                              model.safetensors, pytorch_model.bin
  hyenadna-orig   no model_type; a `layer` with _name_ "hyena"       weights.ckpt (Lightning; its state_dict)
  caduceus        model_type "caduceus" (ph/ps by `rcps`)            model.safetensors, pytorch_model.bin
  mamba           no model_type; MambaConfig (d_model, n_layer,      model.safetensors, pytorch_model.bin
                  ssm_cfg)
  mamba-hf        model_type "mamba" (transformers MambaForCausalLM) model.safetensors, pytorch_model.bin

Weights are read with `read_state_dict` (safetensors, else weights-only torch.load: never full pickle). A
cut or damaged weight file, or weights that do not fit config.json, is one error naming the file and how to
get a good copy again (`redownload_hint`: `glrm models download NAME --force`). The
loaded model's `info` (glrm.models.info.ModelInfo) gets what the checkpoint tells: `name`, `checkpoint`
(folder), `weights_file`, `sha256` (of the weight file read), `format`, `stored_dtype`, `max_length` and
`max_length_source`; and `model.vocab` the checkpoint's vocabulary (glrm.models.tokenizer_files: its
tokenizer.json or tokenizer_config.json, else the family's default), checked against the embedding's rows and,
for Caduceus, against config.json's complement_map.

max_length (tokens) comes from config.json (HyenaDNA `max_seq_len` / `layer.l_max`), else from
tokenizer_config.json's `model_max_length` (Caduceus and Mamba, whose config.json has no length), else from
the registry entry, else from a `seqlen-<N>k` folder name, else `registry.DEFAULT_MAX_LENGTH` (1024). The
window it allows, in bases, is `glrm.models.info.trained_window` (HyenaDNA: max_length - 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

import torch

import glrm.models.registry as registry
from glrm.errors import InputError
from glrm.models.base import DamagedWeights, GenomicLM, WeightsMismatch, read_state_dict
from glrm.models.registry import DEFAULT_MAX_LENGTH, WEIGHT_FILES, KnownModel
from glrm.models.tokenizer import Vocabulary
from glrm.models.tokenizer_files import model_max_length, read_vocabulary

FORMATS = ("hyenadna-hf", "hyenadna-orig", "caduceus", "mamba", "mamba-hf")
FAMILY = {"hyenadna-hf": "hyenadna", "hyenadna-orig": "hyenadna", "caduceus": "caduceus", "mamba": "mamba",
          "mamba-hf": "mamba"}
FORMAT_WEIGHTS = {
    "hyenadna-hf": ("model.safetensors", "pytorch_model.bin"),
    "hyenadna-orig": ("weights.ckpt",),
    "caduceus": ("model.safetensors", "pytorch_model.bin"),
    "mamba": ("model.safetensors", "pytorch_model.bin"),
    "mamba-hf": ("model.safetensors", "pytorch_model.bin"),
}
DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
    "float64": torch.float64, "fp64": torch.float64,
}
_EXPECTED = "config.json plus one of " + ", ".join(WEIGHT_FILES)


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint folder, its detected format and parsed config; nothing loaded yet."""

    folder: Path
    format: str                 # one of FORMATS
    config: dict
    weights: Path               # the weight file that will be read
    name: str                   # registry name, repo id or folder name
    known: KnownModel | None

    @property
    def family(self) -> str:
        return FAMILY[self.format]


def read_config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; restore the checkpoint's config.json") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); check the path and permissions") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}); "
            "restore the checkpoint's config.json (re-download it)"
        ) from None
    if not isinstance(config, dict):
        raise InputError(f"{path}: holds a JSON {type(config).__name__}, not an object; restore config.json")
    return config


def detect_format(config: dict, config_path: Path | str = "config.json") -> str:
    """The checkpoint format a parsed config.json describes (see the module docstring)."""
    model_type = config.get("model_type")
    if model_type is not None:
        if model_type == "hyenadna":
            return "hyenadna-hf"
        if model_type == "caduceus":
            return "caduceus"
        if model_type == "mamba":
            return "mamba-hf"
        raise InputError(
            f"{config_path}: model_type {model_type!r} is not supported; glrm reads model_type 'hyenadna' "
            "(HyenaDNA HF port), 'caduceus' and 'mamba' (transformers MambaForCausalLM), original HyenaDNA "
            "configs (a nested 'layer' with _name_ 'hyena') and mamba_ssm MambaConfig files (no model_type)"
        )
    layer = config.get("layer")
    if isinstance(layer, dict):
        if layer.get("_name_") == "hyena":
            return "hyenadna-orig"
        raise InputError(
            f"{config_path}: layer _name_ {layer.get('_name_')!r} is not supported; glrm reads original "
            "HyenaDNA configs with layer _name_ 'hyena'"
        )
    if {"d_model", "n_layer", "ssm_cfg"} <= set(config):
        return "mamba"
    raise InputError(
        f"{config_path}: not a HyenaDNA, Caduceus or Mamba config (keys: {', '.join(sorted(config)[:12])}); "
        "glrm expects model_type 'hyenadna' or 'caduceus', an original HyenaDNA config with a 'layer' "
        "section, or a MambaConfig (d_model, n_layer, ssm_cfg)"
    )


def inspect_checkpoint(path_or_name: str | os.PathLike) -> Checkpoint:
    """Resolve `-m` (registry.resolve), read config.json, detect the format and pick the weight file."""
    res = registry.resolve(path_or_name)
    folder = res.folder
    found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    config_path = folder / "config.json"
    if not config_path.is_file():
        weights = [w for w in WEIGHT_FILES if w in found]
        if weights:
            raise InputError(
                f"{folder}: missing config.json (found {', '.join(weights)}); copy the checkpoint's "
                "config.json into the folder"
            )
        raise InputError(
            f"{folder}: not a checkpoint folder (found: {', '.join(found[:12]) or 'nothing'}); "
            f"glrm expects {_EXPECTED}"
        )
    config = read_config(folder)
    fmt = detect_format(config, config_path)
    choices = FORMAT_WEIGHTS[fmt]
    weights = next((folder / w for w in choices if (folder / w).is_file()), None)
    if weights is None:
        raise InputError(
            f"{folder}: {fmt} checkpoint is missing its weights: {' or '.join(choices)} "
            f"(found: {', '.join(found)}); copy the weight file next to config.json"
        )
    return Checkpoint(folder, fmt, config, weights, res.name, res.known)


def file_sha256(path: Path, block: int = 1 << 20) -> str:
    """SHA-256 of a file, read in blocks (checkpoints can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def redownload_hint(ckpt: Checkpoint) -> str:
    """How to get a good copy of a damaged checkpoint: the `glrm models download` command for it."""
    folder = ckpt.folder.resolve()
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        repo = folder.parent.parent.name[len("models--"):].replace("--", "/", 1)
        name = ckpt.known.name if ckpt.known else repo
        return f"download it again with `glrm models download {name} --force`"
    where = shlex.quote(str(ckpt.folder))
    if ckpt.known is not None:
        return f"download it again with `glrm models download {ckpt.known.name} --dir {where} --force`"
    return (f"download or copy the checkpoint again (from the Hugging Face Hub: `glrm models download REPO "
            f"--dir {where} --force`)")


_BLOB = re.compile(r"[0-9a-f]{64}")


def check_cached_blob(ckpt: Checkpoint, digest: str) -> None:
    """In a Hugging Face cache, a weight file is a link to `blobs/<its SHA-256>`: a blob whose bytes hash to
    something else was damaged after the download."""
    real = ckpt.weights.resolve()
    if real.parent.name == "blobs" and _BLOB.fullmatch(real.name) and real.name != digest:
        raise InputError(f"{ckpt.weights}: damaged: its SHA-256 is {digest[:12]}..., the Hugging Face cache "
                         f"stored it as {real.name[:12]}...; {redownload_hint(ckpt)}")


def checkpoint_max_length(ckpt: Checkpoint) -> tuple[int, str]:
    """The trained context in tokens, and where it came from."""
    cfg = ckpt.config
    if ckpt.format == "hyenadna-hf" and isinstance(cfg.get("max_seq_len"), int):
        return cfg["max_seq_len"], "config.json max_seq_len"
    if ckpt.format == "hyenadna-orig" and isinstance(cfg["layer"].get("l_max"), int):
        return cfg["layer"]["l_max"], "config.json layer.l_max"
    if ckpt.family != "hyenadna":   # Caduceus and Mamba configs record no length; their tokenizers may
        tokens = model_max_length(ckpt.folder)
        if tokens:
            return tokens, "tokenizer_config.json model_max_length"
    if ckpt.known is not None:
        return ckpt.known.max_length, f"registry ({ckpt.known.name})"
    from_name = registry.length_from_path(ckpt.folder)
    if from_name:
        return from_name, "folder name"
    return DEFAULT_MAX_LENGTH, "default"


def parse_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype in DTYPES.values():
            return dtype
    elif str(dtype).lower().removeprefix("torch.") in DTYPES:
        return DTYPES[str(dtype).lower().removeprefix("torch.")]
    raise InputError(f"dtype {dtype!r} is not supported; use float32, bfloat16, float16 or float64")


def parse_device(device: torch.device | str) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"device {device!r} is not a device name; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r}: no CUDA device is visible to torch; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise InputError(f"device {device!r}: only {count} CUDA device(s) are visible; pick another index")
    return dev


def build(ckpt: Checkpoint, state: dict[str, torch.Tensor]) -> GenomicLM:
    """Hand the state dict to the family's builder (key mapping, tied weights, strict load).

    A config value the builder cannot use (a string where a number belongs, ...) becomes an InputError.
    """
    try:
        return _build(ckpt, state)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise InputError(
            f"{ckpt.folder / 'config.json'}: does not describe a valid {ckpt.format} model "
            f"({type(exc).__name__}: {detail}); restore the config.json that came with the checkpoint"
        ) from None


def _build(ckpt: Checkpoint, state: dict[str, torch.Tensor]) -> GenomicLM:
    source = str(ckpt.weights)
    if ckpt.family == "hyenadna":
        from glrm.models.hyenadna import build_hyenadna

        return build_hyenadna(ckpt.config, state, "hf" if ckpt.format == "hyenadna-hf" else "orig", source)
    if ckpt.family == "caduceus":
        from glrm.models.caduceus import build_caduceus

        return build_caduceus(ckpt.config, state, source)
    from glrm.models.mamba import build_mamba_lm

    return build_mamba_lm(ckpt.config, state, source, "hf" if ckpt.format == "mamba-hf" else "mamba_ssm")


def embedding_rows(model: GenomicLM) -> int:
    """The rows of the model's token embedding (the padded vocabulary: logit columns)."""
    emb = next(m for m in model.modules() if isinstance(m, torch.nn.Embedding))
    return emb.num_embeddings


def check_vocabulary(ckpt: Checkpoint, vocab: Vocabulary, rows: int) -> None:
    """The vocabulary must fit the model: every id inside the embedding and, for Caduceus, config.json's
    complement_map (what the RC-equivariant layers use) the same pairs as the tokenizer's bases."""
    where = vocab.source or vocab.name
    if vocab.size > rows:
        raise InputError(
            f"{where}: the tokenizer has {vocab.size} tokens but the model's embedding has {rows} rows; the "
            f"tokenizer files belong to another checkpoint: restore those of {ckpt.folder}")
    cmap = ckpt.config.get("complement_map") if ckpt.format == "caduceus" else None
    if isinstance(cmap, dict):
        given = {int(k): int(v) for k, v in cmap.items()}
        wrong = [i for i in range(vocab.size) if i in given and given[i] != vocab.complement[i]]
        if wrong:
            i = wrong[0]
            raise InputError(
                f"{ckpt.folder / 'config.json'}: complement_map pairs {i} with {given[i]}, but the tokenizer "
                f"({where}) pairs {vocab.tokens[i]}={i} with {vocab.complement[i]}; the tokenizer files "
                "belong to another checkpoint: restore the checkpoint's own")


def _stored_dtype(state: dict[str, torch.Tensor]) -> str:
    """The floating dtype of the stored weights (the most common one, counted in elements)."""
    counts: dict[torch.dtype, int] = {}
    for v in state.values():
        if v.is_floating_point():
            counts[v.dtype] = counts.get(v.dtype, 0) + v.numel()
    return str(max(counts, key=counts.get)).removeprefix("torch.") if counts else "none"


def load_model(
    path_or_name: str | os.PathLike,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | str | None = None,
) -> GenomicLM:
    """Load a checkpoint folder or cached known model; eval mode, no gradients, on `device` in `dtype`.

    dtype None means float32. Raises InputError naming the folder/file and the fix for anything wrong.
    """
    dev = parse_device(device)
    dt = parse_dtype(dtype)
    ckpt = inspect_checkpoint(path_or_name)
    vocab = read_vocabulary(ckpt.folder, ckpt.format, ckpt.config)   # fails before the weights are read
    try:
        digest = file_sha256(ckpt.weights)
    except OSError as exc:
        raise InputError(f"{ckpt.weights}: cannot be read ({exc.strerror}); check its permissions") from None
    try:
        state = read_state_dict(ckpt.weights)
    except DamagedWeights as exc:
        raise InputError(f"{exc}; {redownload_hint(ckpt)}") from None
    check_cached_blob(ckpt, digest)
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise InputError(
            f"{ckpt.weights}: entries that are not tensors: {', '.join(bad[:5])}; not a state dict"
        )
    try:
        model = build(ckpt, state)
    except WeightsMismatch as exc:
        raise InputError(f"{exc}: {redownload_hint(ckpt)}") from None
    check_vocabulary(ckpt, vocab, embedding_rows(model))
    model.vocab = vocab
    max_length, source = checkpoint_max_length(ckpt)
    model.info = replace(model.info, max_length=max_length, max_length_source=source, name=ckpt.name,
                         checkpoint=str(ckpt.folder), weights_file=str(ckpt.weights), sha256=digest,
                         format=ckpt.format, stored_dtype=_stored_dtype(state), tokenizer=vocab.describe())
    del state
    model.to(device=dev)
    if dt in (torch.bfloat16, torch.float16) and model.info.family in ("mamba", "caduceus"):
        # matmul weights in dt; A_log, D, conv and norms stay float32 (the scan and states run in float32)
        from glrm.models.mamba import cast_for_inference

        cast_for_inference(model, dt)
    else:
        model.to(dtype=dt)  # HyenaDNA's .to keeps filter generation and the FFTs in float32
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
