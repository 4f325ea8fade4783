"""PlantCaduceus' format (tests/fixtures/plantcaduceus-tiny): GPN's vocabulary read from the checkpoint's own
tokenizer files, residual_in_fp32, weights only in pytorch_model.bin under the base model's keys; parity with
the independent float64 reference (tests/reference_models.py), chunked and not; SNVs scored with --rc mean end
to end."""

from __future__ import annotations

import json
import logging
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from reference_models import caduceus as reference_caduceus

from glrm.cli.main import main
from glrm.errors import InputError
from glrm.models import load_model
from glrm.models.tokenizer import GPN
from glrm.windows import revcomp

FIX = Path(__file__).parent / "fixtures"
PLANT = FIX / "plantcaduceus-tiny"
FILES = ("config.json", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json",
         "special_tokens_map.json")

pytestmark = pytest.mark.usefixtures("one_thread")


def arrays():
    z = np.load(PLANT / "io.npz")
    return {k: torch.from_numpy(z[k]) for k in z.files}


def copy(dest: Path, files=FILES) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(PLANT / f, dest / f)
    return dest


@pytest.fixture(scope="module")
def model():
    return load_model(PLANT)


def test_loads_with_gpn_vocabulary_from_its_tokenizer_files(model):
    v = model.vocab
    assert (v.nucleotides, v.other, v.mask, v.pad, v.complement) == (
        GPN.nucleotides, GPN.other, GPN.mask, GPN.pad, GPN.complement)
    assert v.source.endswith("tokenizer.json") and v.lower_case and v.folds_case
    assert (model.info.kind, model.info.rc_equivariant, model.info.format) == ("masked", True, "caduceus")
    assert model.cfg["residual_in_fp32"] is True
    assert model.lm_head.lm_head.weight.shape == (8, 32)    # 8 rows: ids 8-11 of DNA12 would overflow
    assert "a=3 c=4 g=5 t=6" in model.info.tokenizer and "[UNK]=2" in model.info.tokenizer


def test_the_sequences_encode_as_gpns_tokenizer_did(model):
    meta = json.loads((PLANT / "meta.json").read_text())
    assert meta["input_ids_from"].startswith(("tokenizers", "GPN"))
    ids = torch.stack([model.vocab.encode(s) for s in meta["sequences"]])
    assert torch.equal(ids, arrays()["input_ids"])      # lower-case runs, N and R included


def test_encoding_agrees_with_the_tokenizers_library(model):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(PLANT / "tokenizer.json"))
    rng = random.Random(3)
    for _ in range(20):
        seq = "".join(rng.choice("ACGTacgtNnRYKMSWBDHV") for _ in range(rng.randint(1, 80)))
        assert model.vocab.encode(seq).tolist() == tok.encode(seq).ids, seq


def test_fp64_matches_the_reference():
    m, a = load_model(PLANT, dtype="fp64"), arrays()
    with torch.no_grad():
        out = m(a["input_ids"])
    torch.testing.assert_close(out.logits, a["logits_f64"], atol=1e-10, rtol=0)
    torch.testing.assert_close(out.hidden_states, a["last_hidden_state_f64"], atol=1e-10, rtol=0)


@pytest.mark.parametrize("chunk", [None, 100, 37])
def test_fp32_matches_the_reference_chunked_or_not(model, chunk):
    a = arrays()
    with torch.no_grad():
        out = model(a["input_ids"], chunk_size=chunk)
    torch.testing.assert_close(out.logits.double(), a["logits_f64"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.hidden_states.double(), a["last_hidden_state_f64"], atol=1e-5, rtol=0)


def test_rc_equivariant_with_gpns_complement_map():
    m, ids = load_model(PLANT, dtype="fp64"), arrays()["input_ids"]
    with torch.no_grad():
        a, b = m(ids), m(m.vocab.revcomp_ids(ids))
    torch.testing.assert_close(b.logits, a.logits.flip(1)[..., m.vocab.complement_map(8)], atol=1e-10, rtol=0)
    assert m.vocab.revcomp_ids(m.vocab.encode("aACGTN")).tolist() == m.vocab.encode("NACGTT").tolist()


def test_the_maskedlm_key_layout_loads_the_same(tmp_path, model):
    folder = copy(tmp_path / "masked-lm")
    state = torch.load(PLANT / "pytorch_model.bin", weights_only=True)
    state = {"caduceus." + k: v for k, v in state.items()}
    state["lm_head.complement_map"] = state["caduceus.backbone.embeddings.word_embeddings.complement_map"]
    torch.save(state, folder / "pytorch_model.bin")
    ids = arrays()["input_ids"][:, :64]
    with torch.no_grad():
        assert torch.equal(load_model(folder)(ids).logits, model(ids).logits)


def test_without_tokenizer_files_the_caduceus_default_is_gpns(tmp_path, model):
    folder = copy(tmp_path / "bare", ("config.json", "pytorch_model.bin"))
    m = load_model(folder)
    assert m.vocab.nucleotides == GPN.nucleotides and m.vocab.mask == GPN.mask
    assert "complement_map" in m.vocab.source


def test_a_tokenizer_from_another_checkpoint_is_refused(tmp_path):
    folder = copy(tmp_path / "wrong", ("config.json", "pytorch_model.bin"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"characters": list("ACGTN"), "tokenizer_class": "CaduceusTokenizer", "model_max_length": 512}))
    with pytest.raises(InputError, match=r"12 tokens but the model's embedding has 8 rows"):
        load_model(folder)


def test_a_tokenizer_that_disagrees_with_the_complement_map_is_refused(tmp_path):
    folder = copy(tmp_path / "swapped")
    tok = json.loads((folder / "tokenizer.json").read_text())
    tok["model"]["vocab"].update({"a": 4, "c": 3})      # a and c swapped: a pairs with t; config: 3<->6
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(InputError, match=r"complement_map pairs 3 with 6, but the tokenizer"):
        load_model(folder)


def test_a_missing_key_takes_the_official_default_with_a_warning(tmp_path, caplog):
    folder = copy(tmp_path / "old-config")
    config = json.loads((folder / "config.json").read_text())
    del config["residual_in_fp32"], config["norm_epsilon"]
    (folder / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING):
        m = load_model(folder)
    warned = [r.getMessage() for r in caplog.records if "lacks" in r.getMessage()]
    assert len(warned) == 1 and "residual_in_fp32, norm_epsilon" in warned[0]
    assert "CaduceusConfig" in warned[0]
    assert m.cfg["residual_in_fp32"] is True and m.cfg["norm_epsilon"] == 1e-5


# --- end to end: score-vcf --rc mean ----------------------------------------------------------------------

W = 96


def _reference_mlr(state, config, window: str, o: int, ref: str, alt: str) -> float:
    """GLRM_MLR of one strand from the reference: position o masked, log-softmax over a/c/g/t."""
    ids = GPN.encode(window)
    ids[o] = GPN.mask
    logits, _ = reference_caduceus(state, config, ids[None])
    lp = torch.log_softmax(logits[0, o, 3:7], dim=-1)
    col = {"A": 0, "C": 1, "G": 2, "T": 3}
    return float(lp[col[alt]] - lp[col[ref]])


def ph_variant(dest: Path) -> Path:
    """The fixture's weights as a Caduceus-ph checkpoint (rcps false): same format and vocabulary, and strands
    that differ, so --rc mean runs and averages a second, mirrored pass."""
    folder = copy(dest, ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"))
    config = json.loads((PLANT / "config.json").read_text())
    config["rcps"] = False
    state = torch.load(PLANT / "pytorch_model.bin", weights_only=True)
    rename = (("mixer.submodule.", "mixer."), ("word_embeddings.embedding.", "word_embeddings."))
    state = {k.replace(*rename[0]).replace(*rename[1]): v
             for k, v in state.items() if not k.endswith("complement_map")}
    (folder / "config.json").write_text(json.dumps(config))
    torch.save(state, folder / "pytorch_model.bin")
    return folder


@pytest.mark.parametrize("variant", ["ps", "ph"])
def test_score_vcf_scores_snvs_with_rc_mean_as_the_reference(tmp_path, variant):
    model = PLANT if variant == "ps" else ph_variant(tmp_path / "ph")
    rng = np.random.default_rng(5)
    seq = "".join(rng.choice(list("ACGTacgt"), 600))
    (tmp_path / "ref.fa").write_text(">chr1\n" + "\n".join(seq[i:i + 60] for i in range(0, 600, 60)) + "\n")
    sites = [(150, "G"), (301, "T"), (452, "C")]
    records = []
    for pos, alt in sites:
        ref = seq[pos - 1].upper()
        alt = alt if alt != ref else "A" if ref != "A" else "C"
        records.append((pos, ref, alt))
    header = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=600>\n"
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    body = "".join(f"chr1\t{p}\t.\t{r}\t{a}\t.\tPASS\t.\n" for p, r, a in records)
    (tmp_path / "in.vcf").write_text(header + body)
    out = tmp_path / "out.vcf"
    code = main(["score-vcf", "-i", str(tmp_path / "in.vcf"), "-f", str(tmp_path / "ref.fa"),
                 "-m", str(model),
                 "--window", str(W), "--rc", "mean", "--scores", "mlr,gpn_llr", "-o", str(out), "-q"])
    assert code == 0
    got = {}
    for line in out.read_text().splitlines():
        if not line.startswith("#"):
            cols = line.split("\t")
            info = dict(kv.split("=", 1) for kv in cols[7].split(";"))
            got[int(cols[1])] = (float(info["GLRM_MLR"]), float(info["GLRM_GPN_LLR"]), info["GLRM_STATUS"])
    config = json.loads((model / "config.json").read_text())
    state = torch.load(model / "pytorch_model.bin", weights_only=True)
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    for pos, ref, alt in records:
        g0, o = pos - 1 - W // 2, W // 2
        window = seq[g0:g0 + W]
        fwd = _reference_mlr(state, config, window, o, ref, alt)
        rev = _reference_mlr(state, config, revcomp(window), W - o - 1, comp[ref], comp[alt])
        mlr, gpn_llr, status = got[pos]
        assert status == "OK"
        assert mlr == pytest.approx((fwd + rev) / 2, rel=1e-4, abs=1e-5), pos
        assert gpn_llr == pytest.approx((fwd + rev) / 2, rel=1e-4, abs=1e-5), pos
        if variant == "ps":   # RC-equivariant: strands alike (glrm reads the RC strand off the forward pass)
            assert fwd == pytest.approx(rev, abs=1e-9)
        else:                 # the mirrored pass ran: the mean is not one strand's value
            assert abs(fwd - rev) > 1e-3
