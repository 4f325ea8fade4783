"""`--resume`: a run killed for real (SIGKILL) and restarted with the same arguments writes the same bytes
as an uninterrupted run; the checkpoint is consistent at any moment (a half-appended block is cut), belongs
to one set of arguments (others are refused), and is removed on success. Without --resume nothing is kept."""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from glrm.cli.main import main
from glrm.pipeline import resume as resume_mod

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent
DATA = HERE / "data"
FASTA = str(DATA / "chr20_slice.fa.gz")
INDELS = str(DATA / "chr20_indels.vcf.gz")
MANTA = str(DATA / "colo829_manta.vcf.gz")
HYENA = str(HERE / "fixtures" / "hyenadna-hf-tiny")
DEMO = ROOT / "examples" / "demo"
GLRM = [sys.executable, "-c", "import sys; from glrm.cli.main import main; sys.exit(main(sys.argv[1:]))"]


def text(path):
    with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as fh:
        return fh.read()


def demo_args(out):
    return ["score-vcf", "-i", str(DEMO / "demo.vcf.gz"), "-f", str(DEMO / "chr20_demo.fa.gz"), "-m",
            str(DEMO / "model"), "-o", str(out), "--no-version", "-q", "--resume"]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_bytes(tmp_path):
    env = dict(os.environ, GLRM_BLOCK_JOBS="2")   # small blocks: many checkpoints in a short run
    ref = tmp_path / "ref.vcf.gz"
    subprocess.run([*GLRM, *demo_args(ref)], check=True, env=env, cwd=tmp_path)
    out = tmp_path / "out.vcf.gz"
    state = pathlib.Path(str(out) + ".glrm-resume") / "state.json"
    proc = subprocess.Popen([*GLRM, *demo_args(out)], env=env, cwd=tmp_path)
    done = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = json.loads(state.read_text())["records"]
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= 20:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    done = json.loads(state.read_text())["records"]
    assert 20 <= done < 201
    assert not out.exists()                        # killed: no output, only the checkpoint
    # (a SIGKILL cannot be caught, so the killed run's temporary file may still sit beside the output)
    assert subprocess.run([*GLRM, *demo_args(out)], env=env, cwd=tmp_path).returncode == 0
    assert out.read_bytes() == ref.read_bytes()    # same bytes (BGZF included) as the uninterrupted run
    assert text(out) == text(ref)
    assert not state.parent.exists()               # removed on success
    assert pathlib.Path(str(out) + ".tbi").exists()
    assert not list(tmp_path.glob(".out.vcf.gz*tmp-*"))   # the resumed run cleared the killed run's temps


class _Stop(Exception):
    pass


def _interrupt_after(monkeypatch, n_commits):
    """Make the run die right after its n-th checkpoint (as a kill between blocks would)."""
    real = resume_mod.ResumeState.commit
    calls = {"n": 0}

    def commit(self, n):
        real(self, n)
        calls["n"] += 1
        if calls["n"] == n_commits:
            raise _Stop()

    monkeypatch.setattr(resume_mod.ResumeState, "commit", commit)


def _score(cmd, vcf, out, *extra, window=128):
    return main([cmd, "-i", vcf, "-f", FASTA, "-m", HYENA, "--window", str(window), "-o", str(out), "-q",
                 "--no-version", *extra])


@pytest.mark.parametrize("cmd,vcf,window,stop,extra", [
    ("score-vcf", INDELS, 128, 3, []),
    ("score-vcf", INDELS, 128, 2, ["--shard", "2/3"]),
    ("score-sv", MANTA, 512, 5, []),
])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch, cmd, vcf, window, stop, extra):
    monkeypatch.setenv("GLRM_BLOCK_JOBS", "16")
    ref = tmp_path / "ref.vcf"
    assert _score(cmd, vcf, ref, *extra, "--bed", str(tmp_path / "ref.bed.gz"), window=window) == 0
    out = tmp_path / "out.vcf"
    extra = [*extra, "--bed", str(tmp_path / "out.bed.gz")]
    folder = pathlib.Path(str(out) + ".glrm-resume")
    with monkeypatch.context() as m:
        _interrupt_after(m, stop)
        with pytest.raises(_Stop):
            _score(cmd, vcf, out, "--resume", *extra, window=window)
    assert not out.exists() and folder.is_dir()
    state = json.loads((folder / "state.json").read_text())
    assert 0 < state["records"] < len([x for x in text(ref).splitlines() if not x.startswith("#")])
    with open(folder / "records.jsonl", "ab") as fh:   # a block half-appended when the kill came
        fh.write(b'{"raw": "chr20\\t1')
    assert _score(cmd, vcf, out, "--resume", *extra, window=window) == 0
    assert out.read_bytes() == ref.read_bytes()
    assert (tmp_path / "out.bed.gz").read_bytes() == (tmp_path / "ref.bed.gz").read_bytes()
    assert text(tmp_path / "out.bed.gz").count("\n") > 10
    assert not folder.exists()


@pytest.mark.parametrize("vcf", [MANTA, str(DATA / "colo829_novobreak.vcf.gz")])   # novoBreak: every ID 'N'
def test_tracks_of_a_resumed_run_equal_an_uninterrupted_run(tmp_path, monkeypatch, vcf):
    """The tracks a killed run wrote are kept in its checkpoint, so a workflow manager that deletes the
    failed job's track folder loses nothing, and later records keep the names they get in one run."""
    ref_tracks, tracks = tmp_path / "ref-tracks", tmp_path / "tracks"
    assert _score("score-sv", vcf, tmp_path / "ref.vcf", "--track-dir", str(ref_tracks), window=512) == 0
    out = tmp_path / "out.vcf"
    args = ["--resume", "--bed", str(tmp_path / "out.bed"), "--track-dir", str(tracks)]
    with monkeypatch.context() as m:
        _interrupt_after(m, 4)
        with pytest.raises(_Stop):
            _score("score-sv", vcf, out, *args, window=512)
    staged = pathlib.Path(str(out) + ".glrm-resume") / "tracks"
    assert len(list(staged.glob("*.bedgraph"))) > 0 and list(tracks.iterdir()) == []
    tracks.rmdir()                                      # as Snakemake removes a failed job's outputs
    assert _score("score-sv", vcf, out, *args, window=512) == 0
    names = sorted(p.name for p in ref_tracks.iterdir())
    assert len(names) > 4 and sorted(p.name for p in tracks.iterdir()) == names
    for name in names:
        assert (tracks / name).read_bytes() == (ref_tracks / name).read_bytes()
    assert not pathlib.Path(str(out) + ".glrm-resume").exists()


def test_resume_with_other_arguments_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GLRM_BLOCK_JOBS", "16")
    out = tmp_path / "out.vcf"
    folder = pathlib.Path(str(out) + ".glrm-resume")
    with monkeypatch.context() as m:
        _interrupt_after(m, 2)
        with pytest.raises(_Stop):
            _score("score-vcf", INDELS, out, "--resume")
    capsys.readouterr()
    assert _score("score-vcf", INDELS, out, "--resume", window=64) != 0
    err = capsys.readouterr().err
    assert "other arguments" in err and "delete" in err and "--resume" in err
    assert _score("score-vcf", INDELS, out, "--resume", "--scores", "llr") != 0
    newer = resume_mod.DEFINITIONS_VERSION + 1
    for name, other in (("DEFINITIONS_VERSION", newer), ("__version__", "0.0.1")):
        with monkeypatch.context() as m:     # finished records scored by another glrm are not reused
            m.setattr(resume_mod, name, other)
            assert _score("score-vcf", INDELS, out, "--resume") != 0
        assert "another glrm version" in capsys.readouterr().err
    assert folder.is_dir() and not out.exists()     # the checkpoint is kept for the right arguments
    assert _score("score-vcf", INDELS, out, "--resume") == 0
    assert not folder.exists() and out.exists()


def test_without_resume_nothing_is_kept(tmp_path, monkeypatch):
    out = tmp_path / "out.vcf"
    assert _score("score-vcf", INDELS, out) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.vcf"]


@pytest.mark.parametrize("cmd,extra,what", [
    ("score-vcf", ["-o", "-"], "output file"),
    ("score-vcf", ["--bed", "-"], "BED file"),
    ("score-vcf", ["-i", "-"], "stdin"),
])
def test_resume_refusals(tmp_path, capsys, cmd, extra, what):
    args = [cmd, "-i", INDELS, "-f", FASTA, "-m", HYENA, "-o", str(tmp_path / "o.vcf"), "--resume",
            *[str(tmp_path / "t") if x == "TRACKS" else x for x in extra]]
    assert main(args) != 0
    assert what in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- checkpoints by time (GLRM_CHECKPOINT_SECONDS) ----------------------------------------------------------

@pytest.mark.slow
def test_time_checkpoints_let_a_killed_run_resume_inside_one_block(tmp_path):
    """The demo's 201 records are one block of score-vcf (512 jobs); with a checkpoint interval of 0 s the
    run commits after every record, so a SIGKILL mid-block loses nothing, and the rerun says how many records
    it took from the checkpoint."""
    plain = [a for a in demo_args(tmp_path / "ref.vcf.gz") if a != "--resume"]
    subprocess.run([*GLRM, *plain], check=True, cwd=tmp_path)   # uninterrupted, no checkpoint, full blocks
    env = {k: v for k, v in os.environ.items() if k != "GLRM_BLOCK_JOBS"}
    env["GLRM_CHECKPOINT_SECONDS"] = "0"
    out = tmp_path / "out.vcf.gz"
    state = pathlib.Path(str(out) + ".glrm-resume") / "state.json"
    proc = subprocess.Popen([*GLRM, *demo_args(out)], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads(state.read_text())["records"] >= 10:
                proc.send_signal(signal.SIGKILL)
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    done = json.loads(state.read_text())["records"]
    assert 10 <= done < 201 and not out.exists()    # fewer records than the one block: cut by time
    rerun = [a for a in demo_args(out) if a != "-q"]
    res = subprocess.run([*GLRM, *rerun], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == (tmp_path / "ref.vcf.gz").read_bytes()
    first = next(x for x in res.stderr.splitlines() if " records, " in x)
    assert first.startswith(f"glrm score-vcf: {201 - done} records, ")
    assert first.endswith(f"; {done} more records resumed from the checkpoint (201 in all)")


def _block_sizes(monkeypatch, seconds):
    monkeypatch.setenv("GLRM_CHECKPOINT_SECONDS", seconds)
    sizes = []
    real = resume_mod.ResumeState.commit

    def commit(self, n):
        sizes.append(n)
        real(self, n)

    monkeypatch.setattr(resume_mod.ResumeState, "commit", commit)
    return sizes


def test_checkpoint_interval_sets_the_blocks(tmp_path, monkeypatch):
    monkeypatch.delenv("GLRM_BLOCK_JOBS", raising=False)
    ref = tmp_path / "ref.vcf"
    assert _score("score-vcf", INDELS, ref) == 0
    total = sum(1 for x in text(ref).splitlines() if not x.startswith("#"))
    with monkeypatch.context() as m:      # 0 s: a commit after every record
        sizes = _block_sizes(m, "0")
        assert _score("score-vcf", INDELS, tmp_path / "a.vcf", "--resume") == 0
    assert sizes == [1] * total
    with monkeypatch.context() as m:      # a long interval: blocks start at one job and double
        sizes = _block_sizes(m, "3600")
        assert _score("score-vcf", INDELS, tmp_path / "b.vcf", "--resume") == 0
    assert sum(sizes) == total and sizes[0] == 1 and sizes[1] <= 3 and len(sizes) <= 10
    assert (tmp_path / "a.vcf").read_bytes() == (tmp_path / "b.vcf").read_bytes() == ref.read_bytes()


def test_resumed_count_in_the_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GLRM_BLOCK_JOBS", "16")
    out = tmp_path / "out.vcf"
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        with pytest.raises(_Stop):
            _score("score-vcf", INDELS, out, "--resume")
    done = json.loads((pathlib.Path(str(out) + ".glrm-resume") / "state.json").read_text())["records"]
    capsys.readouterr()
    args = ["score-vcf", "-i", INDELS, "-f", FASTA, "-m", HYENA, "--window", "128", "-o", str(out),
            "--no-version", "--resume"]
    assert main(args) == 0
    first = capsys.readouterr().err.splitlines()[-4:]
    assert any(x.endswith(f"; {done} more records resumed from the checkpoint (194 in all)") for x in first)
    out.unlink()
    assert main(args) == 0          # a --resume run that found no checkpoint says nothing of one
    assert "from the checkpoint" not in capsys.readouterr().err


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_bad_checkpoint_interval_is_one_line(tmp_path, monkeypatch, capsys, value):
    monkeypatch.setenv("GLRM_CHECKPOINT_SECONDS", value)
    assert _score("score-vcf", INDELS, tmp_path / "o.vcf", "--resume") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"GLRM_CHECKPOINT_SECONDS={value!r}" in err
    assert list(tmp_path.iterdir()) == []


def test_batches_of_several_windows_resume_to_the_same_bytes(tmp_path, monkeypatch):
    """With --batch-size 4 the windows of a block share batches, and another grouping could round
    differently: blocks are then a fixed number of alleles in every run (--resume or not), and a killed run
    continues from a block end, with the bytes of a plain run."""
    monkeypatch.delenv("GLRM_BLOCK_JOBS", raising=False)
    monkeypatch.setenv("GLRM_CHECKPOINT_SECONDS", "0")
    ref = tmp_path / "ref.vcf"
    assert _score("score-vcf", INDELS, ref, "--batch-size", "4", "--rc", "mean") == 0
    out = tmp_path / "out.vcf"
    with monkeypatch.context() as m:
        sizes = _block_sizes(m, "0")
        _interrupt_after(m, 5)
        with pytest.raises(_Stop):
            _score("score-vcf", INDELS, out, "--batch-size", "4", "--rc", "mean", "--resume")
    assert len(sizes) == 5 and max(sizes) <= 4      # blocks of 4 batches of 4 windows: 4 alleles each
    assert _score("score-vcf", INDELS, out, "--batch-size", "4", "--rc", "mean", "--resume") == 0
    assert out.read_bytes() == ref.read_bytes()
