"""Checkpoint loading: format detection, missing/corrupt files, safe unpickling, metadata, name resolution.

End-to-end checks load each golden fixture with `load_model` and compare the logits with the official
implementation's float64 outputs (tests/fixtures/README.md gives the tolerances).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from glrm.errors import InputError
from glrm.models import load_model, registry
from glrm.models.loading import (
    checkpoint_max_length,
    detect_format,
    file_sha256,
    inspect_checkpoint,
    parse_device,
    parse_dtype,
)

FIX = Path(__file__).parent / "fixtures"

# fixture -> (format, weight file picked, builder module, fp32 logits atol vs logits_f64)
FIXTURES = {
    "hyenadna-hf-tiny": ("hyenadna-hf", "model.safetensors", "glrm.models.hyenadna", 3e-4),
    "hyenadna-orig-tiny": ("hyenadna-orig", "weights.ckpt", "glrm.models.hyenadna", 3e-4),
    "caduceus-ph-tiny": ("caduceus", "model.safetensors", "glrm.models.caduceus", 1e-4),
    "caduceus-ps-tiny": ("caduceus", "model.safetensors", "glrm.models.caduceus", 1e-4),
    "mamba-lm-tiny": ("mamba", "pytorch_model.bin", "glrm.models.mamba", 1e-4),
}
BUILDERS = {
    "glrm.models.hyenadna": "build_hyenadna",
    "glrm.models.caduceus": "build_caduceus",
    "glrm.models.mamba": "build_mamba_lm",
}


def need_builder(module: str) -> None:
    """Skip until the architecture's builder has landed (it is written in parallel with the loader)."""
    mod = pytest.importorskip(module)
    if not hasattr(mod, BUILDERS[module]):
        pytest.skip(f"{module}.{BUILDERS[module]} not written yet")


def copy_fixture(name: str, dest: Path, files: tuple[str, ...] | None = None) -> Path:
    src = FIX / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in files if files is not None else ("config.json", *registry.WEIGHT_FILES):
        if (src / f).exists():
            shutil.copy(src / f, dest / f)
    return dest


# --- format detection ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_detects_every_fixture_format(name):
    fmt, weights, _, _ = FIXTURES[name]
    ckpt = inspect_checkpoint(FIX / name)
    assert ckpt.format == fmt
    assert ckpt.weights == FIX / name / weights
    assert ckpt.name == name
    assert ckpt.known is None


def test_hyenadna_hf_falls_back_to_pytorch_model_bin(tmp_path):
    folder = copy_fixture("hyenadna-hf-tiny", tmp_path / "hf", ("config.json", "pytorch_model.bin"))
    ckpt = inspect_checkpoint(folder)
    assert (ckpt.format, ckpt.weights.name) == ("hyenadna-hf", "pytorch_model.bin")


def test_caduceus_prefers_safetensors_over_bin():
    assert inspect_checkpoint(FIX / "caduceus-ph-tiny").weights.name == "model.safetensors"


def test_max_length_sources(tmp_path):
    assert checkpoint_max_length(inspect_checkpoint(FIX / "hyenadna-hf-tiny")) == (
        1026, "config.json max_seq_len")
    assert checkpoint_max_length(inspect_checkpoint(FIX / "hyenadna-orig-tiny")) == (
        1026, "config.json layer.l_max")
    assert checkpoint_max_length(inspect_checkpoint(FIX / "caduceus-ps-tiny")) == (
        registry.DEFAULT_MAX_LENGTH, "default")
    named = copy_fixture("caduceus-ps-tiny", tmp_path / "my-caduceus_seqlen-131k_d_model-32")
    assert checkpoint_max_length(inspect_checkpoint(named)) == (131072, "folder name")
    short = copy_fixture("caduceus-ph-tiny", tmp_path / "caduceus-ph_seqlen-1k_run2")
    assert checkpoint_max_length(inspect_checkpoint(short))[0] == 1024


def test_length_from_folder_names():
    f = registry.length_from_path
    assert f(Path("/x/caduceus-ps_seqlen-131k_d_model-256_n_layer-16")) == 131072
    assert f(Path("/x/caduceus-ph_seqlen-1k_d_model-118_n_layer-4_lr-8e-3")) == 1024
    assert f(Path("/x/caduceus-ph_seqlen-1k_d_model-118/snapshot")) is None  # only the folder's own name
    assert f(Path("/x/model")) is None


def test_detect_format_rejects_unknown_model_type():
    with pytest.raises(InputError, match=r"model_type 'bert' is not supported.*'hyenadna'.*'caduceus'"):
        detect_format({"model_type": "bert", "d_model": 8})


def test_detect_format_rejects_unknown_layer_and_unknown_config():
    with pytest.raises(InputError, match=r"layer _name_ 'mha' is not supported"):
        detect_format({"d_model": 8, "layer": {"_name_": "mha"}})
    with pytest.raises(InputError, match=r"not a HyenaDNA, Caduceus or Mamba config \(keys: hidden_size"):
        detect_format({"hidden_size": 8})


# --- missing and broken files ---------------------------------------------------------------------


def test_missing_weights_are_named(tmp_path):
    folder = copy_fixture("hyenadna-hf-tiny", tmp_path / "hf", ("config.json",))
    with pytest.raises(InputError) as err:
        load_model(folder)
    msg = str(err.value)
    assert "hyenadna-hf checkpoint is missing its weights: model.safetensors or pytorch_model.bin" in msg
    assert "found: config.json" in msg and "\n" not in msg


def test_missing_weights_ckpt_for_original_hyenadna(tmp_path):
    # an HF weight file next to an original config is not what that format reads
    folder = copy_fixture("hyenadna-orig-tiny", tmp_path / "orig", ("config.json",))
    shutil.copy(FIX / "hyenadna-hf-tiny" / "model.safetensors", folder)
    with pytest.raises(InputError, match=r"hyenadna-orig checkpoint is missing its weights: weights\.ckpt"):
        inspect_checkpoint(folder)


def test_missing_config_is_named(tmp_path):
    folder = copy_fixture("caduceus-ph-tiny", tmp_path / "c", ("model.safetensors",))
    with pytest.raises(InputError, match=r"missing config\.json \(found model\.safetensors\)"):
        load_model(folder)


def test_not_a_checkpoint_folder_says_what_glrm_expects(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError) as err:
        load_model(tmp_path)
    msg = str(err.value)
    assert "found: notes.txt" in msg
    assert "config.json plus one of model.safetensors, pytorch_model.bin, weights.ckpt" in msg


def test_corrupted_config_json(tmp_path):
    folder = copy_fixture("mamba-lm-tiny", tmp_path / "m")
    text = (folder / "config.json").read_text()
    (folder / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match=r"config\.json: line 1 column \d+: not valid JSON"):
        load_model(folder)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(InputError, match=r"holds a JSON list, not an object"):
        load_model(folder)


def test_path_to_a_file_is_rejected():
    with pytest.raises(InputError, match=r"takes a checkpoint folder .* not a file"):
        load_model(FIX / "mamba-lm-tiny" / "config.json")


# --- safe loading ---------------------------------------------------------------------------------


class _Payload:
    """Unpickling this runs a shell command (the classic pickle exploit)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Custom:
    def __init__(self):
        self.weight = torch.zeros(2)


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    folder = copy_fixture("mamba-lm-tiny", tmp_path / "evil", ("config.json",))
    marker = tmp_path / "payload-ran"
    torch.save({"backbone.embedding.weight": torch.zeros(16, 32), "x": _Payload(marker)},
               folder / "pytorch_model.bin")
    with pytest.raises(InputError) as err:
        load_model(folder)
    msg = str(err.value)
    assert str(folder / "pytorch_model.bin") in msg
    assert "weights-only" in msg and "never unpickles arbitrary objects" in msg
    assert not marker.exists()
    # the payload is live: a full unpickle runs it (which is exactly what glrm must never do)
    torch.load(folder / "pytorch_model.bin", weights_only=False)
    assert marker.exists()


def test_custom_object_in_checkpoint_is_refused(tmp_path):
    folder = copy_fixture("hyenadna-orig-tiny", tmp_path / "orig", ("config.json",))
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": _Custom()}, folder / "weights.ckpt")
    with pytest.raises(InputError, match=r"weights\.ckpt: cannot be read as a weights-only checkpoint"):
        load_model(folder)


def test_file_sha256_streams_the_whole_file(tmp_path):
    path = FIX / "caduceus-ps-tiny" / "model.safetensors"
    assert file_sha256(path, block=4096) == hashlib.sha256(path.read_bytes()).hexdigest()


# --- dtype / device arguments ---------------------------------------------------------------------


def test_dtype_and_device_arguments():
    assert parse_dtype(None) is torch.float32
    assert parse_dtype(torch.bfloat16) is torch.bfloat16
    assert parse_dtype("bf16") is torch.bfloat16
    with pytest.raises(InputError, match="dtype 'int8' is not supported"):
        parse_dtype("int8")
    with pytest.raises(InputError, match="dtype torch.int64 is not supported"):
        parse_dtype(torch.int64)
    assert parse_device("cpu") == torch.device("cpu")
    with pytest.raises(InputError, match="not a device name"):
        parse_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device is visible"):
            parse_device("cuda")


# --- end to end: load_model reproduces the official outputs -------------------------------------------


def _logits(model, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = model(torch.from_numpy(ids))
    return out.logits.double().numpy()


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_load_model_matches_official_logits(name):
    fmt, weights, module, atol = FIXTURES[name]
    need_builder(module)
    model = load_model(FIX / name)
    for case in ("io.npz", "io_refalt.npz"):
        io = np.load(FIX / name / case)
        np.testing.assert_allclose(_logits(model, io["input_ids"]), io["logits_f64"], rtol=0, atol=atol)
    assert model.info.format == fmt
    assert model.info.name == name
    assert model.info.checkpoint == str(FIX / name)
    assert model.info.weights_file == str(FIX / name / weights)
    assert model.info.sha256 == hashlib.sha256((FIX / name / weights).read_bytes()).hexdigest()
    assert model.info.stored_dtype == "float32"
    assert model.info.max_length == checkpoint_max_length(inspect_checkpoint(FIX / name))[0]
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize("name", ["hyenadna-hf-tiny", "caduceus-ph-tiny", "caduceus-ps-tiny"])
def test_pytorch_model_bin_gives_the_same_model(tmp_path, name):
    need_builder(FIXTURES[name][2])
    folder = copy_fixture(name, tmp_path / name, ("config.json", "pytorch_model.bin"))
    model = load_model(folder)
    io = np.load(FIX / name / "io.npz")
    np.testing.assert_allclose(
        _logits(model, io["input_ids"]), io["logits_f64"], rtol=0, atol=FIXTURES[name][3]
    )
    assert model.info.sha256 == hashlib.sha256((folder / "pytorch_model.bin").read_bytes()).hexdigest()


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_load_model_on_cuda(name):
    need_builder(FIXTURES[name][2])
    model = load_model(FIX / name, device="cuda")
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    assert {b.device.type for b in model.buffers()} <= {"cuda"}
    io = np.load(FIX / name / "io.npz")
    with torch.no_grad():
        logits = model(torch.from_numpy(io["input_ids"]).cuda()).logits.double().cpu().numpy()
    np.testing.assert_allclose(logits, io["logits_f64"], rtol=0, atol=FIXTURES[name][3])


def test_bfloat16_load():
    need_builder("glrm.models.mamba")
    model = load_model(FIX / "mamba-lm-tiny", dtype=torch.bfloat16)
    dtypes = {name: p.dtype for name, p in model.named_parameters()}
    # projections and embeddings in bf16; the scan parameters (A_log, D) and norms stay float32
    assert dtypes["backbone.layers.0.mixer.in_proj.weight"] == torch.bfloat16
    assert dtypes["backbone.embedding.weight"] == torch.bfloat16
    assert dtypes["backbone.layers.0.mixer.A_log"] == torch.float32
    assert dtypes["backbone.layers.0.mixer.D"] == torch.float32
    assert dtypes["backbone.norm_f.weight"] == torch.float32
    io = np.load(FIX / "mamba-lm-tiny" / "io.npz")
    got = _logits(model, io["input_ids"][:, :64])
    # bf16 keeps ~3 significant digits; it must still track the reference closely
    assert np.max(np.abs(got - io["logits_f64"][:, :64])) < 0.1 * np.max(np.abs(io["logits_f64"]))


@pytest.mark.parametrize(
    "name, key, value",
    [
        ("mamba-lm-tiny", "n_layer", 1),
        ("caduceus-ph-tiny", "n_layer", 1),
        ("hyenadna-hf-tiny", "n_layer", 1),
        ("hyenadna-orig-tiny", "n_layer", 1),
    ],
)
def test_mismatched_config_lists_unexpected_keys(tmp_path, name, key, value):
    need_builder(FIXTURES[name][2])
    folder = copy_fixture(name, tmp_path / name)
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError) as err:
        load_model(folder)
    msg = str(err.value)
    assert "unexpected keys" in msg and "layers.1." in msg
    assert "config.json" in msg and "\n" not in msg


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_unusable_config_values_are_input_errors(tmp_path, name):
    need_builder(FIXTURES[name][2])
    folder = copy_fixture(name, tmp_path / name)
    config = json.loads((folder / "config.json").read_text())
    config["n_layer"] = "two"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"config\.json.*'two'"):
        load_model(folder)


def test_mismatched_width_lists_shape_mismatches(tmp_path):
    need_builder("glrm.models.mamba")
    folder = copy_fixture("mamba-lm-tiny", tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["ssm_cfg"]["d_state"] = 8
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"shape mismatches \[.*A_log"):
        load_model(folder)


# --- name resolution: local path > offline HF cache > error with the download hint ----------------


def fake_cache(root: Path, repo_id: str, fixture: str, rev: str = "0123abcd") -> Path:
    """A hub-cache layout as huggingface_hub writes it: blobs, snapshot symlinks, refs/main."""
    repo_dir = root / ("models--" + repo_id.replace("/", "--"))
    snap = repo_dir / "snapshots" / rev
    snap.mkdir(parents=True)
    (repo_dir / "blobs").mkdir()
    for f in ("config.json", "model.safetensors"):
        blob = repo_dir / "blobs" / hashlib.sha256((FIX / fixture / f).read_bytes()).hexdigest()
        shutil.copy(FIX / fixture / f, blob)
        (snap / f).symlink_to(os.path.relpath(blob, snap))
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(rev)
    return snap


@pytest.fixture
def hub(tmp_path, monkeypatch):
    root = tmp_path / "hub"
    root.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.chdir(tmp_path)
    return root


def test_known_name_resolves_from_the_offline_cache(hub):
    repo = registry.KNOWN_MODELS["caduceus-ps-131k"].repo_id
    snap = fake_cache(hub, repo, "caduceus-ps-tiny")
    res = registry.resolve("caduceus-ps-131k")
    assert (res.folder, res.name, res.known.name) == (snap, "caduceus-ps-131k", "caduceus-ps-131k")
    ckpt = inspect_checkpoint("caduceus-ps-131k")
    assert checkpoint_max_length(ckpt) == (131072, "registry (caduceus-ps-131k)")
    # a repo id resolves the same way
    assert registry.resolve(repo).folder == snap


def test_cache_without_refs_main_uses_a_usable_snapshot(hub):
    repo = registry.KNOWN_MODELS["caduceus-ph-1k"].repo_id
    snap = fake_cache(hub, repo, "caduceus-ph-tiny")
    (hub / ("models--" + repo.replace("/", "--")) / "refs" / "main").unlink()
    (snap.parent / "deadbeef").mkdir()  # an incomplete snapshot (interrupted download)
    assert registry.resolve("caduceus-ph-1k").folder == snap


def test_local_path_wins_over_the_cache(hub, tmp_path):
    fake_cache(hub, registry.KNOWN_MODELS["caduceus-ps-131k"].repo_id, "caduceus-ps-tiny")
    local = copy_fixture("caduceus-ph-tiny", tmp_path / "caduceus-ps-131k")
    res = registry.resolve("caduceus-ps-131k")
    assert res.folder == Path("caduceus-ps-131k") and res.folder.resolve() == local.resolve()
    assert inspect_checkpoint("caduceus-ps-131k").config["rcps"] is False  # the local ph copy, not the cache


def test_uncached_name_says_how_to_download(hub):
    with pytest.raises(InputError) as err:
        registry.resolve("hyenadna-small-32k")
    msg = str(err.value)
    assert "LongSafari/hyenadna-small-32k-seqlen-hf" in msg and str(hub) in msg
    assert "glrm models download hyenadna-small-32k" in msg
    with pytest.raises(InputError, match=r"glrm models download someone/some-model"):
        registry.resolve("someone/some-model")


def test_unknown_name_lists_known_names(hub):
    with pytest.raises(InputError, match=r"not a known model name.*hyenadna-tiny-1k.*caduceus-ps-131k"):
        load_model("no-such-model")


def test_cache_dir_follows_the_hf_environment(monkeypatch, tmp_path):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert registry.hf_cache_dir() == tmp_path / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hfhome"))
    assert registry.hf_cache_dir() == tmp_path / "hfhome" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "c"))
    assert registry.hf_cache_dir() == tmp_path / "c"


def test_registry_entries():
    m = registry.KNOWN_MODELS
    assert [k for k in m if k.startswith("hyenadna")] == [
        "hyenadna-tiny-1k", "hyenadna-tiny-1k-d256", "hyenadna-tiny-16k-d128", "hyenadna-small-32k",
        "hyenadna-medium-160k", "hyenadna-medium-450k", "hyenadna-large-1m"]
    assert m["hyenadna-tiny-1k"].repo_id == "LongSafari/hyenadna-tiny-1k-seqlen-hf"
    assert m["hyenadna-tiny-16k-d128"].repo_id == "LongSafari/hyenadna-tiny-16k-seqlen-d128-hf"
    assert [m[k].max_length for k in m if k.startswith("hyenadna")] == [
        1026, 1026, 16386, 32770, 160002, 450002, 1000002]
    assert m["caduceus-ps-131k"].repo_id == "kuleshov-group/caduceus-ps_seqlen-131k_d_model-256_n_layer-16"
    assert m["caduceus-ph-1k"].repo_id == "kuleshov-group/caduceus-ph_seqlen-1k_d_model-118_n_layer-4_lr-8e-3"
    assert {m[k].kind for k in m if k.startswith("caduceus")} == {"masked"}
    assert registry.guess_known(Path("/x/caduceus-ps_seqlen-131k_d_model-256_n_layer-16")).name == (
        "caduceus-ps-131k")
