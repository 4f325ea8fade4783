"""What every glrm model shares: the output type, the model interface (its facts: glrm.models.info), and
strict weight loading.

Architectures live one per file beside this one (hyenadna.py, mamba.py, caduceus.py).
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from glrm.errors import InputError
from glrm.models.info import ModelInfo
from glrm.models.tokenizer import DNA12, Vocabulary

log = logging.getLogger(__name__)


@dataclass
class ModelOutput:
    logits: torch.Tensor         # (B, L, V) float32; V = the checkpoint's padded vocab
    hidden_states: torch.Tensor  # (B, L, H) last hidden state after the final norm


def scratch(work: dict | None, name: str, shape: tuple[int, ...], dtype: torch.dtype,
            device: torch.device) -> tuple[torch.Tensor, bool]:
    """(tensor, new): the buffer `name` of `shape` from `work`, the dict one forward passes to each of its
    layers so they reuse one set of whole-sequence buffers (HyenaDNA, Caduceus: fresh memory costs a page
    fault per 4 KiB when first written; at 1M tokens that was a fifth of a HyenaDNA forward); a new one when
    `work` is None or holds none of this shape. `new` tells the caller to initialise what it relies on (zero
    padding). A buffer from `work` must not outlive the layer that took it: the next layer overwrites it."""
    t = None if work is None else work.get(name)
    if t is not None and t.shape == shape and t.dtype == dtype and t.device == device:
        return t, False
    t = torch.empty(shape, dtype=dtype, device=device)
    if work is not None:
        work[name] = t
    return t, True


class GenomicLM(nn.Module):
    """Base of glrm's models. Subclasses pass their `ModelInfo` (built from their config) to `__init__` and
    implement `forward`; `glrm.models.loading.load_model` replaces `info` with the checkpoint's full one, and
    `vocab` (glrm.models.tokenizer.Vocabulary: the 12-token DNA vocabulary for a model built in code) with the
    checkpoint's own.

    forward(input_ids: LongTensor (B, L), chunk_size: int | None = None) -> ModelOutput
    """

    info: ModelInfo
    vocab: Vocabulary

    def __init__(self, info: ModelInfo, vocab: Vocabulary = DNA12):
        super().__init__()
        self.info = info
        self.vocab = vocab


# --- config.json: the official config classes' defaults ---------------------------------------------


def config_file(source: str | Path) -> str:
    """The config.json beside a weight file `source` (what a message about the config should name)."""
    path = Path(source)
    weights = path.suffix in (".safetensors", ".bin", ".ckpt")
    return str(path.with_name("config.json")) if weights else str(path)


def with_defaults(config: dict, defaults: dict, config_class: str, source: str | Path) -> dict:
    """`config` completed with `defaults` (the official `config_class`'s values) for the keys it lacks, and
    one warning naming those keys: a config.json written without them loads as the official code loads it,
    and the user learns that it did."""
    missing = [k for k in defaults if k not in config]
    if missing:
        values = ", ".join(f"{k}={json.dumps(defaults[k])}" for k in missing)
        log.warning("%s: lacks %s; using the defaults of the official %s (%s)", config_file(source),
                    ", ".join(missing), config_class, values)
    return {**defaults, **config}


# --- weight files (the names glrm reads are in registry.WEIGHT_FILES) -----------------------------


class DamagedWeights(InputError):
    """A weight file that is incomplete or damaged (glrm.models.loading adds how to get a good copy)."""


class WeightsMismatch(InputError):
    """Weights whose names or shapes do not fit the model config.json describes (loading adds the fix)."""


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a weight file safely: safetensors, or torch.load with weights_only=True (never full pickle).

    A Lightning `weights.ckpt` returns its inner `state_dict`.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    _check_zip(path)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except PermissionError as exc:
        raise _unreadable(path, exc) from None
    except (OSError, EOFError, RuntimeError) as exc:   # a cut or damaged file (the old, non-zip format)
        raise DamagedWeights(f"{path}: damaged or incomplete ({_first_line(exc)})") from None
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


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:160]}"


def _unreadable(path: Path, exc: OSError) -> InputError:
    return InputError(f"{path}: cannot be read ({exc.strerror or _first_line(exc)}); check its permissions")


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except PermissionError as exc:
        raise _unreadable(path, exc) from None
    except Exception as exc:  # safetensors.SafetensorError: a cut file or a damaged header
        raise DamagedWeights(f"{path}: {_safetensors_problem(path, exc)}") from None


SAFETENSORS_MAX_HEADER = 100_000_000   # the safetensors format's own limit on its JSON header


def _safetensors_problem(path: Path, exc: Exception) -> str:
    """What is wrong with a safetensors file the library refused, in words (the file is: 8 bytes giving
    the header length N, N bytes of JSON listing each tensor's byte span, then the tensor bytes)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"incomplete: {size} bytes, too short for a safetensors file (an interrupted download?)"
        n = int.from_bytes(head, "little")
        if n > SAFETENSORS_MAX_HEADER:
            return f"damaged header: its first 8 bytes give a header of {n:,} bytes"
        if 8 + n > size:
            return (f"incomplete: {size:,} bytes, shorter than its own {n:,}-byte header (an interrupted "
                    "download?)")
        try:
            header = json.loads(fh.read(n))
            spans = [v["data_offsets"] for k, v in header.items() if k != "__metadata__"]
            need = 8 + n + max((int(end) for _start, end in spans), default=0)
        except (ValueError, TypeError, KeyError, AttributeError):
            return f"damaged header: not the JSON list of tensors it should be ({_first_line(exc)})"
    if size < need:
        return f"incomplete: {size:,} of {need:,} bytes (an interrupted download?)"
    if size > need:
        return f"damaged: {size - need:,} bytes past the last tensor its header lists"
    return f"damaged ({_first_line(exc)})"


def _check_zip(path: Path) -> None:
    """A weight file in torch.save's zip format must be a complete zip whose members match their CRC-32
    (torch.load checks neither, so a cut or overwritten file could load as wrong weights). Files in the old
    pickle format carry no checksum; torch.load finds what damage it can."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                return
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.CRC == 0:        # torch can save without checksums; nothing to compare then
                    continue
                with zf.open(info) as member:
                    while member.read(1 << 24):
                        pass
    except PermissionError as exc:
        raise _unreadable(path, exc) from None
    except Exception as exc:  # zipfile.BadZipFile (cut: no central directory; Bad CRC-32), zlib.error, EOF
        if str(exc) == "File is not a zip file":   # zipfile's words for a missing end (central directory)
            raise DamagedWeights(f"{path}: incomplete: the end of its zip archive is missing (an interrupted "
                                 "download?)") from None
        raise DamagedWeights(f"{path}: damaged ({_first_line(exc)})") from None


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
        raise WeightsMismatch(
            f"{source}: weights do not match config.json: " + "; ".join(parts)
            + " (config.json and the weights come from different checkpoints, or one of them is damaged)"
        )
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(state[k].to(dtype=v.dtype) if v.is_floating_point() else state[k])


def _short(items: list[str], n: int = 8) -> str:
    more = f" ... (+{len(items) - n} more)" if len(items) > n else ""
    return "[" + ", ".join(items[:n]) + more + "]"
