"""The registry of released checkpoints: every entry against the table in docs/models.md (the values of
the released config.json files), the revisions `glrm models download` fetches, and the files it asks for."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from glrm.models import registry
from glrm.models.info import trained_window

DOCS = Path(__file__).parent.parent / "docs" / "models.md"
COLUMNS = ["name", "repo", "family", "kind", "d_model", "n_layer", "trained bases", "max tokens", "vocab",
           "vocab_size", "license", "revision"]


def docs_table() -> dict[str, dict[str, str]]:
    """The rows of docs/models.md's known-models table, by name."""
    text = DOCS.read_text()
    start = text.index("<!-- known-models table")
    lines = text[start:].splitlines()[1:]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == COLUMNS, header
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(COLUMNS, cells, strict=True))
    return rows


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_every_registry_entry_is_in_the_docs_table_with_the_same_values():
    table = docs_table()
    assert list(table) == list(registry.KNOWN_MODELS)
    for name, m in registry.KNOWN_MODELS.items():
        row = table[name]
        assert row["repo"] == m.repo_id, name
        assert (row["family"], row["kind"], row["vocab"], row["license"]) == (m.family, m.kind, m.vocab,
                                                                             m.license), name
        assert (number(row["d_model"]), number(row["n_layer"]), number(row["vocab_size"])) == (
            m.d_model, m.n_layer, m.vocab_size), name
        lengths = (number(row["trained bases"]), number(row["max tokens"]))
        assert lengths == (m.trained_length, m.max_length), name
        assert row["revision"] == (m.revision if m.pinned else f"{m.revision} (unpinned)"), name


def test_every_released_checkpoint_is_known():
    repos = {m.repo_id for m in registry.KNOWN_MODELS.values()}
    for repo in ("LongSafari/hyenadna-tiny-1k-seqlen-d256-hf", "LongSafari/hyenadna-tiny-16k-seqlen-d128-hf",
                 "kuleshov-group/caduceus-ph_seqlen-1k_d_model-256_n_layer-4_lr-8e-3",
                 "kuleshov-group/caduceus-ps_seqlen-1k_d_model-256_n_layer-4_lr-8e-3",
                 *(f"kuleshov-group/PlantCaduceus_l{n}" for n in (20, 24, 28, 32))):
        assert repo in repos
    assert len(repos) == len(registry.KNOWN_MODELS) == 17


def test_entries_are_consistent():
    for m in registry.KNOWN_MODELS.values():
        family = "hyenadna" if m.family == "hyenadna" else "caduceus"
        assert trained_window(family, m.max_length) == m.trained_length, m.name
        assert m.kind == ("causal" if m.family == "hyenadna" else "masked"), m.name
        assert (m.vocab, m.vocab_size) in {("dna12", 12), ("dna12", 16), ("gpn", 8)}, m.name
        assert m.pinned == bool(re.fullmatch(r"[0-9a-f]{40}", m.revision)), m.name
        if m.family != "plantcaduceus":   # repo names spell their size
            assert str(m.d_model) in m.repo_id or m.name.startswith("hyenadna"), m.name


def test_download_asks_for_config_weights_and_tokenizer_files_never_code():
    first = registry.download_patterns(safetensors=True)
    fallback = registry.download_patterns(safetensors=False)
    assert first == ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json"]
    assert fallback == ["config.json", "pytorch_model.bin", "weights.ckpt", "tokenizer.json",
                        "tokenizer_config.json", "special_tokens_map.json"]
    assert not any(p.endswith(".py") or "*" in p for p in first + fallback)


def _snapshot(root: Path, repo: str, rev: str) -> Path:
    snap = root / ("models--" + repo.replace("/", "--")) / "snapshots" / rev
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (snap / "model.safetensors").write_bytes(b"x")
    return snap


def test_a_pinned_revision_takes_its_own_snapshot_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    m = registry.KNOWN_MODELS["plantcaduceus-l20"]
    main_snap = _snapshot(tmp_path, m.repo_id, "a" * 40)
    (tmp_path / ("models--" + m.repo_id.replace("/", "--")) / "refs").mkdir()
    (tmp_path / ("models--" + m.repo_id.replace("/", "--")) / "refs" / "main").write_text("a" * 40)
    assert registry.cached_snapshot(m.repo_id, revision=m.revision) == main_snap
    pinned = replace(m, revision="b" * 40, pinned=True)
    assert registry.cached_snapshot(m.repo_id, revision=pinned.revision) is None
    pinned_snap = _snapshot(tmp_path, m.repo_id, "b" * 40)
    assert registry.cached_snapshot(m.repo_id, revision=pinned.revision) == pinned_snap


@pytest.mark.parametrize("folder, name", [
    ("PlantCaduceus_l28", "plantcaduceus-l28"),
    ("caduceus-ps_seqlen-1k_d_model-256_n_layer-4_lr-8e-3", "caduceus-ps-1k-d256"),
    ("hyenadna-tiny-16k-seqlen-d128-hf", "hyenadna-tiny-16k-d128"),
])
def test_folders_named_like_the_repos_are_recognised(folder, name):
    assert registry.guess_known(Path("/models") / folder).name == name
