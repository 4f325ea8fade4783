"""Per-checkpoint vocabularies: reading tokenizer.json / tokenizer_config.json (and refusing what glrm cannot
read), the family defaults, and the whole scoring path going through the model's own ids: a checkpoint whose
token ids are permuted (bases at ids 9, 1, 6, 4; [MASK] at 8; N at 7) scores exactly as the original."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from glrm.cli.main import main
from glrm.errors import InputError
from glrm.models import load_model
from glrm.models.loading import checkpoint_max_length, inspect_checkpoint
from glrm.models.tokenizer import DNA12, GPN, Vocabulary, character_vocabulary
from glrm.models.tokenizer_files import family_default, from_tokenizer_json, read_vocabulary
from glrm.scoring import scores as S

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
DATA = HERE / "data"

pytestmark = pytest.mark.usefixtures("one_thread")


# --- the two built-in vocabularies -------------------------------------------------------------------------

def test_dna12_is_the_12_token_vocabulary():
    assert DNA12.tokens == ("[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]",
                            "A", "C", "G", "T", "N")
    assert (DNA12.nucleotides, DNA12.other, DNA12.mask, DNA12.pad, DNA12.unk) == ((7, 8, 9, 10), 11, 3, 4, 6)
    assert DNA12.encode("ACGTNacgtRn").tolist() == [7, 8, 9, 10, 11, 7, 8, 9, 10, 11, 11]
    assert DNA12.complement_map(16).tolist() == [0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11, 12, 13, 14, 15]


def test_gpn_reads_bases_in_either_case_and_everything_else_as_unk():
    assert GPN.encode("ACGTacgtNnRY-").tolist() == [3, 4, 5, 6, 3, 4, 5, 6, 2, 2, 2, 2, 2]
    assert GPN.decode([3, 4, 5, 6, 2, 1]) == "ACGT[UNK][MASK]"
    assert GPN.revcomp_ids(torch.tensor([[3, 4, 2, 6]])).tolist() == [[3, 2, 5, 6]]
    assert GPN.complement_map(8).tolist() == [0, 1, 2, 6, 5, 4, 3, 7]


def test_vocabulary_checks_its_own_consistency():
    with pytest.raises(ValueError, match="pair A<->T"):
        Vocabulary(name="x", tokens=("a", "c", "g", "t", "n"), nucleotides=(0, 1, 2, 3), other=4, mask=None,
                   complement=(1, 0, 2, 3, 4))
    with pytest.raises(ValueError, match="outside"):
        Vocabulary(name="x", tokens=("a", "c", "g", "t"), nucleotides=(0, 1, 2, 3), other=4, mask=None,
                   complement=(3, 2, 1, 0))


# --- tokenizer files ---------------------------------------------------------------------------------------

def write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def word_level(vocab: dict[str, int], **extra) -> dict:
    return {"added_tokens": [], "normalizer": None, "pre_tokenizer": None, "post_processor": None,
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}, **extra}


def test_the_plantcaduceus_tokenizer_json_is_gpns():
    v = from_tokenizer_json(FIX / "plantcaduceus-tiny" / "tokenizer.json",
                            json.loads((FIX / "plantcaduceus-tiny" / "tokenizer_config.json").read_text()))
    assert (v.tokens, v.nucleotides, v.other, v.mask, v.pad, v.unk, v.complement, v.prefix, v.suffix) == (
        GPN.tokens, GPN.nucleotides, GPN.other, GPN.mask, GPN.pad, GPN.unk, GPN.complement, (), ())


def test_post_processors_give_the_special_tokens(tmp_path):
    vocab = {"[CLS]": 0, "[SEP]": 1, "[UNK]": 2, "[MASK]": 3, "A": 4, "C": 5, "G": 6, "T": 7, "N": 8}
    template = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A"}},
                           {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [0]},
                                   "[SEP]": {"id": "[SEP]", "ids": [1]}}}
    v = from_tokenizer_json(write(tmp_path / "tokenizer.json", word_level(vocab, post_processor=template)))
    assert (v.prefix, v.suffix, v.nucleotides, v.other, v.mask, v.lower_case) == ((0,), (1,), (4, 5, 6, 7), 8,
                                                                                 3, False)
    bert = {"type": "BertProcessing", "sep": ["[SEP]", 1], "cls": ["[CLS]", 0]}
    v = from_tokenizer_json(write(tmp_path / "tokenizer.json", word_level(vocab, post_processor=bert)))
    assert v.add_special_tokens(torch.tensor([4, 5])).tolist() == [0, 4, 5, 1]


@pytest.mark.parametrize("change, message", [
    (lambda t: t["model"].update(type="BPE", merges=["a c"]), "merges makes multi-base tokens"),
    (lambda t: t["model"]["vocab"].update({"AC": 9}), "more than one character"),
    (lambda t: t["model"].update(type="Unigram"), "its model is 'Unigram'"),
    (lambda t: t.update(normalizer={"type": "Replace"}), "normalizer 'Replace' may rewrite bases"),
    (lambda t: t.update(pre_tokenizer={"type": "ByteLevel"}), "pre-tokenizer 'ByteLevel'"),
    (lambda t: t.update(post_processor={"type": "ByteLevel"}), "post-processor 'ByteLevel'"),
    (lambda t: t["model"]["vocab"].update(X=t["model"]["vocab"].pop("G")), "no token for the base G"),
    (lambda t: (t["model"]["vocab"].update(X=t["model"]["vocab"].pop("N")),
                t["model"].update(unk_token=None)), "neither an N token"),
])
def test_tokenizer_shapes_glrm_cannot_read_are_one_line_errors(tmp_path, change, message):
    tok = word_level({"[UNK]": 0, "[MASK]": 1, "A": 2, "C": 3, "G": 4, "T": 5, "N": 6})
    change(tok)
    with pytest.raises(InputError, match=message) as err:
        from_tokenizer_json(write(tmp_path / "tokenizer.json", tok))
    assert "\n" not in str(err.value) and "tokenizer.json" in str(err.value)


def test_character_tokenizer_configs_and_their_length(tmp_path):
    folder = tmp_path / "caduceus-ph"
    shutil.copytree(FIX / "caduceus-ph-tiny", folder)
    tok_config = {"characters": list("ACGTN"), "model_max_length": 131072,
                  "tokenizer_class": "CaduceusTokenizer"}
    write(folder / "tokenizer_config.json", tok_config)
    m = load_model(folder)
    assert (m.vocab.nucleotides, m.vocab.other, m.vocab.mask, m.vocab.suffix, m.vocab.folds_case) == (
        (7, 8, 9, 10), 11, 3, (1,), True)
    length = checkpoint_max_length(inspect_checkpoint(folder))
    assert length == (131072, "tokenizer_config.json model_max_length")
    assert m.info.max_length == 131072


def test_a_tokenizer_config_without_characters_or_tokenizer_json_is_refused(tmp_path):
    write(tmp_path / "tokenizer_config.json", {"tokenizer_class": "PreTrainedTokenizerFast"})
    with pytest.raises(InputError, match=r"no `characters` list .* no tokenizer.json"):
        read_vocabulary(tmp_path, "caduceus", {"vocab_size": 16})


def test_family_defaults(tmp_path):
    assert family_default(tmp_path, "hyenadna-hf", {"vocab_size": 12}).nucleotides == DNA12.nucleotides
    assert family_default(tmp_path, "hyenadna-orig", {"vocab_size": 12}).prefix == (0,)
    gpn_config = {"vocab_size": 8, "complement_map": {"3": 6, "4": 5, "5": 4, "6": 3}}
    assert family_default(tmp_path, "caduceus", gpn_config).nucleotides == GPN.nucleotides
    with pytest.raises(InputError, match="vocab_size 8 is smaller than the 12-token"):
        family_default(tmp_path, "mamba-hf", {"vocab_size": 8})


def test_scores_read_any_four_columns():
    logits = torch.randn(5, 12, generator=torch.Generator().manual_seed(0))
    nuc = (9, 1, 6, 4)
    ids = torch.tensor([9, 1, 6, 4, 7])
    lp = S.nucleotide_logprobs(logits, nuc)
    torch.testing.assert_close(lp, torch.log_softmax(logits[:, list(nuc)], -1))
    want = [float(lp[0, 0]), float(lp[1, 1]), float(lp[2, 2]), float(lp[3, 3]), 0.0]
    assert S.gather_nucleotide(lp, ids, nuc).tolist() == pytest.approx(want)
    assert S.is_nucleotide(ids, nuc).tolist() == [True, True, True, True, False]


# --- the whole scoring path reads the model's own ids ------------------------------------------------------

# the new id of DNA12 token k: A 7->9, C->1, G->6, T->4, N->7, MASK->8
PERM = [5, 11, 0, 8, 2, 10, 3, 9, 1, 6, 4, 7]
ROW_KEYS = ("word_embeddings.weight", "word_embeddings.embedding.weight", "lm_head.weight")


def permuted(name: str, dest: Path) -> Path:
    """`name` with its 12 token ids permuted by PERM: embedding and head rows, complement maps, and a
    tokenizer.json that says so (padding rows 12-15 stay)."""
    dest.mkdir(parents=True)
    new = list(PERM) + list(range(12, 16))
    inv = [new.index(i) for i in range(16)]       # W'[new[k]] = W[k]
    state = load_file(str(FIX / name / "model.safetensors"))
    for key, t in state.items():
        if key.endswith(ROW_KEYS):
            state[key] = t[inv].contiguous()
        elif key.endswith("complement_map"):
            state[key] = torch.tensor([new[int(t[inv[i]])] for i in range(16)])
    save_file(state, str(dest / "model.safetensors"))
    config = json.loads((FIX / name / "config.json").read_text())
    if config.get("complement_map"):
        cmap = {int(k): int(v) for k, v in config["complement_map"].items()}
        config["complement_map"] = {str(new[k]): new[v] for k, v in cmap.items()}
    write(dest / "config.json", config)
    vocab = {tok: PERM[k] for k, tok in enumerate(DNA12.tokens)}
    write(dest / "tokenizer.json", word_level(vocab, added_tokens=[
        {"id": PERM[k], "content": t, "special": True} for k, t in enumerate(DNA12.tokens[:7])]))
    write(dest / "tokenizer_config.json", {"mask_token": "[MASK]", "pad_token": "[PAD]"})
    return dest


def vcf_values(path: Path) -> list[tuple[str, str]]:
    import gzip

    rows = [line.split("\t") for line in gzip.open(path, "rt") if not line.startswith("#")]
    return [(r[1], r[7]) for r in rows]


@pytest.mark.parametrize("name, scores", [
    ("hyenadna-hf-tiny", "llr,cllr,mlr,emb,evo2,gpn_llr,gpn_cos"),
    ("caduceus-ps-tiny", "mlr,emb,gpn_llr,gpn_cos,gpn_euc"),
    ("caduceus-ph-tiny", "mlr,emb,gpn_llr"),
])
def test_a_permuted_vocabulary_scores_exactly_as_the_original(tmp_path, name, scores):
    folder = permuted(name, tmp_path / name)
    m = load_model(folder)
    assert m.vocab.nucleotides == (9, 1, 6, 4) and (m.vocab.mask, m.vocab.other) == (8, 7)
    outs = []
    for model in (FIX / name, folder):
        out = tmp_path / f"{model.name}-{len(outs)}.vcf.gz"
        args = ["score-vcf", "-i", str(DATA / "gonl_snvs.vcf.gz"), "-f", str(DATA / "chr20_slice.fa.gz"),
                "-m", str(model), "--window", "96", "--rc", "mean", "--scores", scores, "-o", str(out), "-q"]
        assert main(args) == 0
        outs.append(vcf_values(out))
    assert outs[0] == outs[1] and any("GLRM_MLR=" in info for _, info in outs[0])


def test_a_permuted_vocabulary_scores_svs_exactly_as_the_original(tmp_path):
    folder = permuted("hyenadna-hf-tiny", tmp_path / "hyena")
    outs = []
    for model in (FIX / "hyenadna-hf-tiny", folder):
        out = tmp_path / f"sv-{len(outs)}.vcf.gz"
        args = ["score-sv", "-i", str(DATA / "colo829_manta.vcf.gz"), "-f", str(DATA / "chr20_slice.fa.gz"),
                "-m", str(model), "--window", "256", "--rc", "mean", "-o", str(out), "-q"]
        assert main(args) == 0
        outs.append(vcf_values(out))
    assert outs[0] == outs[1] and any("GLRM_SV_LLR=" in info for _, info in outs[0])


def test_character_vocabulary_keeps_the_layout_of_the_official_tokenizers():
    v = character_vocabulary("ACGTN", folds_case=True)
    assert v.tokens == DNA12.tokens and v.complement == DNA12.complement and v.suffix == (1,)
