"""`glrm models list|info|download`, and a start-up that imports no torch.

Nothing here touches the network: download errors are provoked with HF_HUB_OFFLINE=1 and an HF_ENDPOINT on a
closed loopback port; cache hits use a fake hub-cache layout in tmp_path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from glrm.cli.main import main
from glrm.models import registry

FIX = Path(__file__).parent / "fixtures"
REPO_ROOT = Path(__file__).parent.parent


def run_glrm(args: list[str], env: dict[str, str] | None = None, timeout: float = 60):
    """The real entry point in a fresh interpreter (huggingface_hub reads its settings at import time)."""
    full_env = {**os.environ, **(env or {})}
    code = "import sys; from glrm.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=full_env,
        timeout=timeout, cwd=REPO_ROOT,
    )


@pytest.fixture
def hub(tmp_path, monkeypatch):
    root = tmp_path / "hub"
    root.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    return root


def test_cli_import_does_not_load_torch():
    code = (
        "import sys, glrm.cli.main, glrm.cli.models; "
        "heavy = [m for m in ('torch', 'numpy', 'pysam', 'huggingface_hub') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_help_runs_and_lists_models():
    out = run_glrm(["--help"])
    assert out.returncode == 0 and "models" in out.stdout
    out = run_glrm(["models", "--help"])
    assert out.returncode == 0
    for cmd in ("list", "info", "download", "check"):
        assert cmd in out.stdout


def test_list_is_tsv_with_cache_status(hub, capsys):
    repo = registry.KNOWN_MODELS["caduceus-ph-1k"].repo_id
    snap = hub / ("models--" + repo.replace("/", "--")) / "snapshots" / "abc"
    snap.mkdir(parents=True)
    for f in ("config.json", "model.safetensors"):
        shutil.copy(FIX / "caduceus-ph-tiny" / f, snap / f)
    assert main(["models", "list"]) == 0
    out, err = capsys.readouterr()
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows[0] == ["name", "family", "kind", "d_model", "n_layer", "trained_bases", "max_tokens", "vocab",
                       "license", "revision", "repo_id", "cached"]
    table = {r[0]: r for r in rows[1:]}
    assert list(table) == list(registry.KNOWN_MODELS)
    assert table["hyenadna-tiny-1k"] == [
        "hyenadna-tiny-1k", "hyenadna", "causal", "128", "2", "1024", "1026", "dna12", "bsd-3-clause",
        "main (unpinned)", "LongSafari/hyenadna-tiny-1k-seqlen-hf", "no"]
    assert table["caduceus-ps-131k"][1:7] == ["caduceus", "masked", "256", "16", "131072", "131072"]
    assert table["plantcaduceus-l32"][1:9] == ["plantcaduceus", "masked", "1024", "32", "512", "512", "gpn",
                                               "apache-2.0"]
    assert table["caduceus-ph-1k"][11] == str(snap)
    assert err == ""


def test_info_caduceus_ps(capsys):
    pytest.importorskip("glrm.models.caduceus")
    folder = FIX / "caduceus-ps-tiny"
    assert main(["models", "info", str(folder)]) == 0
    out, _ = capsys.readouterr()
    info = dict(line.split("\t", 1) for line in out.splitlines())
    assert info["format"] == "caduceus ps (rcps)"
    assert info["family"] == "caduceus"
    assert info["kind"] == "masked"
    assert info["rc_equivariant"] == "true"
    assert info["d_model"] == "32" and info["n_layer"] == "2"
    assert info["vocab_size"] == "16"
    assert info["max_length"] == f"{registry.DEFAULT_MAX_LENGTH} tokens (default)"
    assert info["dtype"] == "float32"
    assert info["weights"] == "model.safetensors"
    assert info["sha256"] == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    # tied tensors (lm_head, mamba_rev in/out_proj) count once: exactly the floats stored in the file
    from safetensors.torch import load_file

    stored = sum(v.numel() for v in load_file(folder / "model.safetensors").values() if v.is_floating_point())
    assert info["parameters"] == str(stored)


def test_info_hyenadna_shows_padded_vocab_and_config_length(capsys):
    pytest.importorskip("glrm.models.hyenadna")
    assert main(["models", "info", str(FIX / "hyenadna-hf-tiny")]) == 0
    info = dict(line.split("\t", 1) for line in capsys.readouterr().out.splitlines())
    assert info["format"] == "hyenadna-hf"
    assert info["kind"] == "causal" and info["rc_equivariant"] == "false"
    assert info["vocab_size"] == "12 (padded to 16)"
    assert info["max_length"] == "1026 tokens (config.json max_seq_len)"


def test_info_shows_the_checkpoints_own_vocabulary(capsys):
    assert main(["models", "info", str(FIX / "plantcaduceus-tiny")]) == 0
    info = dict(line.split("\t", 1) for line in capsys.readouterr().out.splitlines())
    assert info["weights"] == "pytorch_model.bin" and info["vocab_size"] == "8"
    want = "tokenizer.json: a=3 c=4 g=5 t=6, other bases -> [UNK]=2, mask [MASK]=1"
    assert info["tokenizer"].startswith(want)


def test_info_on_a_bad_folder_is_one_line_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"model_type": "hyenadna"')
    assert main(["models", "info", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("glrm: error: ") and err.count("\n") == 1
    assert "not valid JSON" in err


def test_download_offline_fails_with_one_line_hint(tmp_path):
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1",
           "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "2"}
    out = run_glrm(["models", "download", "hyenadna-tiny-1k"], env)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("glrm: error: cannot download LongSafari/hyenadna-tiny-1k-seqlen-hf")
    assert "HF_ENDPOINT" in lines[-1] and "-m" in lines[-1]


def test_download_unreachable_endpoint_fails_with_one_line_hint(tmp_path):
    # loopback port 9 (discard) is closed: the connection is refused at once, nothing leaves the machine
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0",
           "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "2"}
    out = run_glrm(["models", "download", "caduceus-ps-131k", "--dir", str(tmp_path / "dl")], env)
    assert out.returncode == 2
    err = out.stderr.strip().splitlines()[-1]
    assert "cannot download kuleshov-group/caduceus-ps_seqlen-131k_d_model-256_n_layer-16" in err
    assert "from http://127.0.0.1:9" in err
    assert not (tmp_path / "dl" / "config.json").exists()


def test_download_rejects_unknown_names(capsys):
    assert main(["models", "download", "hyenadna-huge"]) == 2
    err = capsys.readouterr().err
    assert "not a known name or a Hugging Face repo id" in err and "hyenadna-tiny-1k" in err


def test_download_without_huggingface_hub_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import now raises ImportError
    assert main(["models", "download", "caduceus-ph-1k"]) == 2
    assert "pip install -e '.[hub]'" in capsys.readouterr().err


def test_info_by_name_reads_the_offline_cache(hub, capsys):
    pytest.importorskip("glrm.models.caduceus")
    repo = registry.KNOWN_MODELS["caduceus-ps-131k"].repo_id
    snap = hub / ("models--" + repo.replace("/", "--")) / "snapshots" / "rev1"
    snap.mkdir(parents=True)
    for f in ("config.json", "model.safetensors"):
        shutil.copy(FIX / "caduceus-ps-tiny" / f, snap / f)
    assert main(["models", "info", "caduceus-ps-131k"]) == 0
    info = dict(line.split("\t", 1) for line in capsys.readouterr().out.splitlines())
    assert info["name"] == "caduceus-ps-131k"
    assert info["checkpoint"] == str(snap)
    assert info["max_length"] == "131072 tokens (registry (caduceus-ps-131k))"
