"""The offline demo (examples/demo, `make demo`): real data that agrees with its reference, a demo checkpoint
in the official HyenaDNA HF format that beats the uniform baseline, and a score-vcf run on part of it."""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pysam
import torch

from glrm.cli.main import main
from glrm.models import load_model
from glrm.models.tokenizer import A, N, encode_numpy

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"
FASTA = DEMO / "chr20_demo.fa.gz"
VCF = DEMO / "demo.vcf.gz"
MODEL = DEMO / "model"
FILES = ["chr20_demo.fa.gz", "chr20_demo.fa.gz.fai", "chr20_demo.fa.gz.gzi", "demo.vcf.gz", "demo.vcf.gz.tbi",
         "regions.bed", "README.md", "model/config.json", "model/model.safetensors"]


def _records():
    with pysam.VariantFile(str(VCF)) as vf:
        return [(r.chrom, r.pos, r.ref, r.alts) for r in vf]


def test_demo_files_exist_and_stay_small():
    for name in FILES:
        assert (DEMO / name).is_file(), name
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total < 5 * 2**20
    assert (MODEL / "model.safetensors").stat().st_size < 5 * 2**20


def test_reference_is_full_length_chr20_and_every_ref_allele_matches_it():
    records = _records()
    assert len(records) == 201 and {c for c, *_ in records} == {"20"}
    with pysam.FastaFile(str(FASTA)) as fa:
        assert tuple(fa.references) == ("20",) and fa.get_reference_length("20") == 63_025_520
        for chrom, pos, ref, _ in records:
            assert fa.fetch(chrom, pos - 1, pos - 1 + len(ref)).upper() == ref.upper(), (chrom, pos, ref)
    with pysam.VariantFile(str(VCF)) as vf:  # the ##contig length agrees with the FASTA
        assert vf.header.contigs["20"].length == 63_025_520


def test_demo_model_is_an_official_hyenadna_checkpoint_with_a_modest_window():
    model = load_model(MODEL)
    assert model.info.format == "hyenadna-hf" and model.info.kind == "causal"
    assert model.info.trained_window == 1024  # score-vcf's default window (max_seq_len 1026 - 2)


def test_demo_model_beats_the_uniform_baseline_on_held_out_sequence():
    # every 8th region of regions.bed was held out of training (scripts/train_demo_model.py)
    lines = (DEMO / "regions.bed").read_text().splitlines()[7::8][:6]
    with pysam.FastaFile(str(FASTA)) as fa:
        starts = [(c, int(s)) for c, s, _ in (x.split("\t") for x in lines)]
        rows = [encode_numpy(fa.fetch(c, s, s + 1024)) for c, s in starts]
    ids = torch.from_numpy(np.stack(rows))                                    # (6, 1024)
    lp = torch.log_softmax(load_model(MODEL)(ids).logits[:, :-1, A:A + 4], dim=-1)  # (6, 1023, 4)
    target = ids[:, 1:]
    ok = target != N
    nll = -lp.gather(-1, (target.clamp(A, A + 3) - A).unsqueeze(-1)).squeeze(-1)[ok].mean()
    assert float(nll) < math.log(4) - 0.02


def test_score_vcf_on_part_of_the_demo(tmp_path):
    out, bed = tmp_path / "demo.scored.vcf.gz", tmp_path / "demo.scored.bed"
    region = "20:60000-1400000"  # the 7 GoNL SNVs next to the chr20 start gap, and 3 indels
    rc = main(["score-vcf", "-i", str(VCF), "-f", str(FASTA), "-m", str(MODEL), "-o", str(out),
               "--bed", str(bed), "-r", region, "--quiet"])
    assert rc in (0, None)
    with pysam.VariantFile(str(VCF)) as vf:
        expected = [(r.pos, r.ref, r.alts) for r in vf.fetch("20", 59_999, 1_400_000)]
    with pysam.VariantFile(str(out)) as vf:
        got = list(vf)
    assert [(r.pos, r.ref, r.alts) for r in got] == expected and len(got) == 10
    status = {r.pos: r.info["GLRM_STATUS"][0] for r in got}
    # 60309's 1024-bp window reaches into the real 60-kb N gap at the start of chr20
    assert status.pop(60309) == "N_CONTENT"
    assert set(status.values()) == {"OK"}
    for r in got:
        if r.pos != 60309:
            assert all(math.isfinite(v) for v in r.info["GLRM_LLR"] + r.info["GLRM_EMB"])
            if len(r.ref) == len(r.alts[0]):
                assert math.isfinite(r.info["GLRM_MLR"][0])
    rows = bed.read_text().splitlines()
    assert rows[0].startswith("#") and len(rows) == 11

