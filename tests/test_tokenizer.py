"""DNA tokenizer: official ids, glrm's case/N conventions, reverse complement, special tokens."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from glrm.models import tokenizer as tk

FIXTURES = Path(__file__).parent / "fixtures"


def test_official_ids():
    assert tk.VOCAB == ("[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]",
                        "A", "C", "G", "T", "N")
    assert (tk.CLS, tk.SEP, tk.PAD, tk.UNK, tk.A, tk.C, tk.G, tk.T, tk.N) == (0, 1, 4, 6, 7, 8, 9, 10, 11)
    ids = tk.encode("ACGTN")
    assert ids.dtype == torch.long and ids.tolist() == [7, 8, 9, 10, 11]


def test_lower_case_reads_as_bases_and_everything_else_as_n():
    assert tk.encode("acgtn").tolist() == [7, 8, 9, 10, 11]
    assert tk.encode("RYKMSWBDHV-.*é").tolist() == [tk.N] * 14
    assert tk.encode(b"AcGt").tolist() == [7, 8, 9, 10]
    assert tk.encode("").tolist() == []


def test_decode_inverts_encode():
    assert tk.decode(tk.encode("ACGTNNA")) == "ACGTNNA"
    assert tk.decode([tk.CLS, tk.A, tk.SEP]) == "[CLS]A[SEP]"
    with pytest.raises(ValueError, match="12"):
        tk.decode([12])


def test_fixture_sequences_tokenise_as_the_official_tokenizers():
    for name in ("hyenadna-hf-tiny", "hyenadna-orig-tiny", "caduceus-ph-tiny", "mamba-lm-tiny"):
        meta = json.loads((FIXTURES / name / "meta.json").read_text())
        family = {"hyenadna-hf": "hyenadna-hf", "hyenadna-orig": "hyenadna-orig",
                  "caduceus": "caduceus", "mamba": "mamba"}[meta["family"]]
        for case in ("io", "io_refalt"):
            expected = np.load(FIXTURES / name / f"{case}.npz")["input_ids"]
            for row, seq in enumerate(meta["cases"][case]["sequences"]):
                ids = tk.add_special_tokens(tk.encode(seq), family)
                assert ids.tolist() == expected[row].tolist(), (name, case, row)


def test_special_tokens_per_family():
    assert tk.special_tokens("hyenadna-orig") == tk.SpecialTokens(prefix=(tk.CLS,), suffix=(tk.SEP,))
    assert tk.special_tokens("hyenadna-hf") == tk.SpecialTokens(prefix=(), suffix=(tk.SEP,))
    batch = tk.add_special_tokens(torch.full((2, 3), tk.A), "hyenadna-orig")
    assert batch.tolist() == [[0, 7, 7, 7, 1]] * 2
    with pytest.raises(ValueError, match="unknown tokenizer family"):
        tk.special_tokens("bert")


def test_complement_map_on_padded_vocab():
    cmap = tk.complement_map(16)
    assert cmap.tolist() == [0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11, 12, 13, 14, 15]
    assert torch.equal(cmap[cmap], torch.arange(16))
    with pytest.raises(ValueError):
        tk.complement_map(8)


def test_complement_map_matches_caduceus_config():
    config = json.loads((FIXTURES / "caduceus-ph-tiny" / "config.json").read_text())
    cmap = config["complement_map"]
    assert tk.complement_map(len(cmap)).tolist() == [cmap[str(i)] for i in range(len(cmap))]


def test_revcomp_ids():
    ids = tk.encode("AACGTN")
    assert tk.decode(tk.revcomp_ids(ids)) == "NACGTT"
    batch = torch.stack([tk.encode("ACCA"), tk.encode("GTNA")])   # (2, 4)
    assert tk.revcomp_ids(batch).tolist() == [tk.encode("TGGT").tolist(), tk.encode("TNAC").tolist()]
    arr = np.array([tk.SEP, tk.A, tk.G, 15])
    assert tk.revcomp_ids(arr).tolist() == [15, tk.C, tk.T, tk.SEP]


@given(st.text(alphabet="ACGTNacgtRY", max_size=200))
def test_revcomp_twice_is_identity(seq):
    ids = tk.encode(seq)
    assert torch.equal(tk.revcomp_ids(tk.revcomp_ids(ids)), ids)
    np_ids = tk.encode_numpy(seq)
    assert np.array_equal(tk.revcomp_ids(tk.revcomp_ids(np_ids)), np_ids)
    assert np.array_equal(tk.revcomp_ids(np_ids), tk.revcomp_ids(ids).numpy())


def test_encode_one_megabase_is_vectorised():
    seq = "ACGTN" * 200_000
    ids = tk.encode_numpy(seq)
    assert ids.shape == (1_000_000,) and ids.dtype == np.int64
    assert ids[:5].tolist() == [7, 8, 9, 10, 11] and int(ids.sum()) == 200_000 * 45
