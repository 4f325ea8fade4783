"""The options of the commands (glrm.pipeline.options, glrm.defaults): the command line's defaults are the
options' defaults, every command refuses a shared option's bad value with the same message, and
##glrmCommand comes from the options' `command_line` (the CLI's context), or this process's own command line
when a pipeline function is called from Python."""

from __future__ import annotations

import dataclasses
import pathlib
import sys

import pytest
import typer

from glrm import defaults as D
from glrm.cli.main import app
from glrm.errors import GlrmError, InputError
from glrm.pipeline.options import (
    PlanOptions,
    ScoreSvOptions,
    ScoreVcfOptions,
    WindowsOptions,
    from_cli,
)
from glrm.pipeline.score_vcf import score_vcf

HERE = pathlib.Path(__file__).parent
DATA = HERE / "data"
FASTA = str(DATA / "chr20_slice.fa.gz")
SNVS = str(DATA / "gonl_snvs.vcf.gz")
HYENA = str(HERE / "fixtures" / "hyenadna-hf-tiny")

COMMANDS = {"score-vcf": ScoreVcfOptions, "score-sv": ScoreSvOptions, "plan": PlanOptions,
            "windows": WindowsOptions}
REQUIRED = {"input": "in.vcf", "fasta": "ref.fa", "model": "m", "window": 64}


@pytest.mark.parametrize("name", COMMANDS)
def test_command_line_defaults_are_the_options_defaults(name):
    """Every option left out on the command line gives the options' own default, and every parameter of the
    command is a field of its options."""
    command = typer.main.get_command(app).commands[name]
    params = {p.name: p.default for p in command.params if p.name not in ("help",)}
    required = {k: v for k, v in REQUIRED.items() if k in params and params[k] is None}
    given = from_cli(COMMANDS[name], {**params, **required})
    names = {f.name for f in dataclasses.fields(COMMANDS[name])} - {"command_line"}
    assert set(params) == names
    model = required.pop("model", "m")
    plain = COMMANDS[name](**required) if name == "windows" else COMMANDS[name](model, **required)
    assert given == plain


def test_the_table_holds_the_documented_values():
    assert (D.DEFAULT_MAX_N_FRAC, D.DEFAULT_EMB_FLANK, D.DEFAULT_MAX_SV_LEN) == (0.05, 768, 10_000_000)
    assert D.PRECISIONS == ("fp32", "bf16") and D.DEFAULT_PRECISION == "fp32"
    assert ScoreVcfOptions("m", input="i", fasta="f").scores == ("llr", "cllr", "mlr", "emb")


@pytest.mark.parametrize("bad, message", [
    ({"precision": "fp16"}, "--precision 'fp16': use fp32 or bf16"),
    ({"rc": "both"}, "--rc 'both': use none or mean"),
    ({"max_n_frac": 2.0}, "--max-n-frac 2 is not a fraction"),
    ({"emb_flank": -1}, "--emb-flank -1: give 0 or more bases"),
    ({"threads": 0}, "--threads 0: give 1 or more"),
    ({"chunk_size": 0}, "--chunk-size 0: give 'auto' or 1 or more tokens"),
    ({"window": 4}, "window length 4 is too short"),
    ({"regions": "20", "regions_file": "r.bed"}, "not both"),
    ({"shard": "3/2"}, "--shard 3/2"),
])
def test_score_vcf_and_score_sv_refuse_shared_options_alike(bad, message):
    for cls in (ScoreVcfOptions, ScoreSvOptions):
        with pytest.raises(InputError) as e:
            cls("m", input="in.vcf", fasta="ref.fa", **bad).validate()
        assert message in str(e.value), cls


def test_plan_and_windows_share_the_checks():
    with pytest.raises(InputError, match="--precision 'fp16'"):
        PlanOptions("m", precision="fp16").validate()
    with pytest.raises(InputError, match="--batch-size 0"):
        PlanOptions("m", batch_size=0).validate()
    with pytest.raises(InputError, match="--max-sv-len 0: give 1 or more bases"):
        WindowsOptions(input="in.vcf", fasta="ref.fa", window=64, max_sv_len=0).validate()
    with pytest.raises(InputError, match="--max-sv-len 0: give 1 or more bases"):
        ScoreSvOptions("m", input="in.vcf", fasta="ref.fa", max_sv_len=0).validate()


def test_the_engines_refuse_with_the_same_checks():
    from glrm.scoring.engine import EngineConfig

    with pytest.raises(InputError, match="--precision 'fp16': use fp32 or bf16"):
        EngineConfig(precision="fp16")
    with pytest.raises(InputError, match="--chunk-size 'auto'"):
        EngineConfig(chunk_size="auto")     # the engine takes a resolved chunk


def test_from_cli_parses_the_texts():
    opts = from_cli(ScoreVcfOptions, {"model": "m", "input": "i", "fasta": "f", "scores": "emb,LLR",
                                      "batch_size": "auto", "chunk_size": "64"}, command_line="glrm x")
    assert (opts.scores, opts.batch_size, opts.chunk_size, opts.command_line) == (("llr", "emb"), None, 64,
                                                                                  "glrm x")
    with pytest.raises(GlrmError, match="--batch-size 'big'"):
        from_cli(PlanOptions, {"model": "m", "batch_size": "big"})


def _command(path) -> str:
    return next(x for x in pathlib.Path(path).read_text().splitlines() if x.startswith("##glrmCommand="))


def test_python_call_records_this_process_or_the_given_command_line(tmp_path, monkeypatch):
    """Without a CLI the options carry no command line, and ##glrmCommand records how this process was started
    (a pipeline script); a caller may give its own."""
    monkeypatch.setattr(sys, "argv", ["/opt/run_glrm.py", "--sample", "NA12878"])
    opts = ScoreVcfOptions(HYENA, input=SNVS, fasta=FASTA, output=str(tmp_path / "a.vcf"), window=128,
                           device="cpu", quiet=True)
    score_vcf(opts)
    assert _command(tmp_path / "a.vcf").startswith("##glrmCommand=run_glrm.py --sample NA12878; Date=")
    score_vcf(dataclasses.replace(opts, output=str(tmp_path / "b.vcf"), command_line="my-workflow step 3"))
    assert _command(tmp_path / "b.vcf").startswith("##glrmCommand=my-workflow step 3; Date=")
