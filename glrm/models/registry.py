"""Known checkpoint names, and where `-m NAME_OR_PATH` finds a checkpoint folder, without the network.

Resolution order for `-m X`:
  1. `X` is an existing local path: use that folder.
  2. `X` is a known name (`glrm models list`) or a Hugging Face repo id (`org/name`): use its snapshot in the
     local Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub), read offline.
  3. Otherwise an InputError that says how to get it (`glrm models download NAME`).

Nothing here touches the network or imports torch; only `glrm models download` downloads.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from glrm.errors import InputError
from glrm.models.info import HYENADNA_SPECIAL_TOKENS

# Weight files glrm reads, in order of preference (safetensors needs no unpickling at all).
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "weights.ckpt")

# When neither config.json, the registry nor the folder name gives a trained length (Caduceus and Mamba
# configs carry none), glrm assumes the shortest released context.
DEFAULT_MAX_LENGTH = 1024


# Besides config.json and one weight file, `glrm models download` fetches these when a repository has them
# (never code: glrm runs no `trust_remote_code`); glrm.models.tokenizer_files reads the vocabulary from them.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True)
class KnownModel:
    """A released checkpoint. The numbers are those of its config.json (docs/models.md, "Known models", lists
    them, and tests/test_registry.py checks every entry against that table)."""

    name: str            # glrm's short name, e.g. "hyenadna-tiny-1k"
    repo_id: str         # Hugging Face repo id
    family: str          # "hyenadna" | "caduceus" | "plantcaduceus" (the Caduceus architecture)
    kind: str            # "causal" | "masked"
    trained_length: int  # bases per training sequence
    max_length: int      # trained length in tokens (HyenaDNA: max_seq_len = bases + 2 special tokens)
    d_model: int
    n_layer: int
    vocab: str           # "dna12" (the 12-token vocabulary) | "gpn" (GPN's, 7 tokens)
    vocab_size: int      # config.json's vocab_size (HyenaDNA 12, padded to 16 rows; Caduceus 16; GPN 8)
    license: str         # as the model card states it ("unspecified": the card states none)
    revision: str = "main"   # what `glrm models download` fetches; a commit hash once pinned
    pinned: bool = False     # True once `revision` is a verified commit hash; False: the branch "main"


def _hyena(size: str, bases: int, d_model: int, n_layer: int, suffix: str = "") -> KnownModel:
    repo = f"LongSafari/hyenadna-{size}-seqlen{suffix}-hf"
    return KnownModel(f"hyenadna-{size}{suffix}", repo, "hyenadna", "causal", bases,
                      bases + HYENADNA_SPECIAL_TOKENS, d_model, n_layer, "dna12", 12, "bsd-3-clause")


def _caduceus(variant: str, seqlen: str, d_model: int, n_layer: int, suffix: str = "", name: str = "",
              license: str = "apache-2.0") -> KnownModel:
    bases = {"1k": 1024, "131k": 131072}[seqlen]
    repo = f"kuleshov-group/caduceus-{variant}_seqlen-{seqlen}_d_model-{d_model}_n_layer-{n_layer}{suffix}"
    return KnownModel(name or f"caduceus-{variant}-{seqlen}", repo, "caduceus", "masked", bases, bases,
                      d_model, n_layer, "dna12", 16, license)


def _plantcaduceus(n_layer: int, d_model: int) -> KnownModel:
    return KnownModel(f"plantcaduceus-l{n_layer}", f"kuleshov-group/PlantCaduceus_l{n_layer}",
                      "plantcaduceus", "masked", 512, 512, d_model, n_layer, "gpn", 8, "apache-2.0")


# Every released HyenaDNA (HF port), Caduceus and PlantCaduceus checkpoint. HyenaDNA max_seq_len values are
# those of the released config.json files (1026, 16386, 32770, 160002, 450002, 1000002). The 1k Caduceus repos
# carry an `_lr-8e-3` suffix, and their model cards state no license. PlantCaduceus was trained on 512-bp
# windows. No revision is pinned yet: the hashes could not be verified from here (docs/models.md).
KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        _hyena("tiny-1k", 1024, 128, 2),
        _hyena("tiny-1k", 1024, 256, 2, "-d256"),
        _hyena("tiny-16k", 16384, 128, 2, "-d128"),
        _hyena("small-32k", 32768, 256, 4),
        _hyena("medium-160k", 160000, 256, 8),
        _hyena("medium-450k", 450000, 256, 8),
        _hyena("large-1m", 1_000_000, 256, 8),
        _caduceus("ph", "1k", 118, 4, "_lr-8e-3", license="unspecified"),
        _caduceus("ps", "1k", 118, 4, "_lr-8e-3", license="unspecified"),
        _caduceus("ph", "1k", 256, 4, "_lr-8e-3", "caduceus-ph-1k-d256", "unspecified"),
        _caduceus("ps", "1k", 256, 4, "_lr-8e-3", "caduceus-ps-1k-d256", "unspecified"),
        _caduceus("ph", "131k", 256, 16),
        _caduceus("ps", "131k", 256, 16),
        _plantcaduceus(20, 384),
        _plantcaduceus(24, 512),
        _plantcaduceus(28, 768),
        _plantcaduceus(32, 1024),
    )
}


def download_patterns(safetensors: bool) -> list[str]:
    """The files `glrm models download` asks for: config.json, the weights (model.safetensors first; the
    pickle-based files only for a repository without it) and the tokenizer files. Never code."""
    weights = ["model.safetensors"] if safetensors else ["pytorch_model.bin", "weights.ckpt"]
    return ["config.json", *weights, *TOKENIZER_FILES]


def known_by_repo(repo_id: str) -> KnownModel | None:
    for m in KNOWN_MODELS.values():
        if m.repo_id.lower() == repo_id.lower():
            return m
    return None


# --- the Hugging Face cache, read offline ---------------------------------------------------------------


def hf_cache_dir() -> Path:
    """The hub cache folder, by the same environment variables huggingface_hub reads (read at call time)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def usable(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / w).is_file() for w in WEIGHT_FILES)


_COMMIT = re.compile(r"[0-9a-f]{40}")


def cached_snapshot(repo_id: str, cache_dir: Path | None = None, revision: str = "main") -> Path | None:
    """The newest usable snapshot of `repo_id` in the local hub cache (config.json + a weight file), or None.

    A commit hash `revision` (a pinned registry entry) takes that snapshot only. Otherwise prefers the
    snapshot `refs/<revision>` points to, and falls back to the most recently modified usable snapshot.
    """
    root = (cache_dir or hf_cache_dir()) / ("models--" + repo_id.replace("/", "--"))
    snapshots = root / "snapshots"
    if not snapshots.is_dir():
        return None
    if _COMMIT.fullmatch(revision):
        return snapshots / revision if usable(snapshots / revision) else None
    ref = root / "refs" / revision
    if ref.is_file():
        main = snapshots / ref.read_text().strip()
        if usable(main):
            return main
    found = [p for p in snapshots.iterdir() if p.is_dir() and usable(p)]
    if not found:
        return None
    return max(found, key=lambda p: p.stat().st_mtime)


# --- -m NAME_OR_PATH -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    folder: Path
    name: str                   # registry name, repo id, or the folder's own name
    known: KnownModel | None    # registry entry, when the checkpoint is a known one


REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve(name_or_path: str | os.PathLike) -> Resolved:
    """The checkpoint folder for `-m`: a local path first, then the offline HF cache, else an InputError."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputError(
                f"{path}: -m takes a checkpoint folder (config.json + weights), not a file; "
                f"pass the folder that holds {path.name}"
            )
        known = guess_known(path)
        return Resolved(path, known.name if known else path.resolve().name, known)
    known = KNOWN_MODELS.get(text.lower())
    if known is None and REPO_ID.match(text):
        known_repo = known_by_repo(text)
        snap = cached_snapshot(text, revision=known_repo.revision if known_repo else "main")
        if snap is not None:
            return Resolved(snap, known_repo.name if known_repo else text, known_repo)
        raise InputError(
            f"model {text!r}: no such folder, and repo {text} is not in the local Hugging Face cache "
            f"({hf_cache_dir()}); download it with `glrm models download {text}` or pass a local folder"
        )
    if known is None:
        names = ", ".join(KNOWN_MODELS)
        raise InputError(
            f"model {text!r}: no such folder and not a known model name; pass a checkpoint folder "
            f"(config.json + weights) or one of: {names} (see `glrm models list`)"
        )
    snap = cached_snapshot(known.repo_id, revision=known.revision)
    if snap is None:
        raise InputError(
            f"model {known.name!r} ({known.repo_id}) is not in the local Hugging Face cache "
            f"({hf_cache_dir()}); download it first with `glrm models download {known.name}`, "
            "or pass a local checkpoint folder"
        )
    return Resolved(snap, known.name, known)


def _names(folder: Path) -> list[str]:
    """The names a checkpoint folder goes by: its own, and the repo name when it is a hub-cache snapshot."""
    folder = Path(folder).resolve()
    names = [folder.name]
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        names.append(folder.parent.parent.name[len("models--"):].replace("--", "/", 1))
    return names


def guess_known(folder: Path) -> KnownModel | None:
    """The registry entry a local folder holds, judged by its name (or its hub-cache repo id)."""
    for name in _names(folder):
        hit = known_by_repo(name) or KNOWN_MODELS.get(name.lower())
        for m in KNOWN_MODELS.values():
            if hit is None and m.repo_id.split("/")[1].lower() == name.lower():
                hit = m
        if hit:
            return hit
    return None


_SEQLEN = re.compile(r"seqlen[-_]?(\d+)([km]?)(?![a-z])", re.IGNORECASE)


def length_from_path(folder: Path) -> int | None:
    """A trained length read from a folder name such as `caduceus-ps_seqlen-131k_d_model-256_n_layer-16`.

    Names give lengths in truncated thousands: `Nk` is the power of two whose thousands are N when there is
    one (1k = 1024, 32k = 32768, 131k = 131072), else N * 1000 (160k = 160000); `Nm` is N * 1,000,000.
    """
    for name in _names(folder):
        hit = _SEQLEN.search(name)
        if not hit:
            continue
        n, unit = int(hit.group(1)), hit.group(2).lower()
        if n == 0:
            continue
        if unit == "m":
            return n * 1_000_000
        if unit == "k":
            pow2 = 1 << (n * 1000 - 1).bit_length()  # the smallest power of two >= n * 1000
            return pow2 if pow2 < (n + 1) * 1000 else n * 1000
        return n
    return None
