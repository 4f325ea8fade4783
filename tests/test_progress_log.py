"""With stderr not a terminal (a cluster job's log), score-vcf and score-sv write plain progress lines to
stderr at GLRM_LOG_INTERVAL seconds (records, ALT alleles, alleles/s, passes, elapsed, ETA), then the summary;
stdout carries the VCF only; -q silences both. The real CLI, in this process (capsys: stderr is no TTY)."""

from __future__ import annotations

import io
import pathlib
import re

from glrm.cli.main import main
from glrm.pipeline.progress import LOG_INTERVAL, _Lines, log_interval

HERE = pathlib.Path(__file__).parent
DATA = HERE / "data"
CHR20 = str(DATA / "chr20_slice.fa.gz")
HYENA = str(HERE / "fixtures" / "hyenadna-hf-tiny")

LINE = re.compile(r"^glrm (score-vcf|score-sv): ([\d,]+) of ([\d,]+) records \(\d+\.\d%\), "
                  r"([\d,]+) ALT alleles, [\d,]+\.\d alleles/s, ([\d,]+) model passes, "
                  r"\d+(s|m\d\ds|h\d\dm) elapsed, "
                  r"ETA (\d+(s|m\d\ds|h\d\dm)|unknown)$")


def progress_lines(err: str, command: str) -> list[re.Match]:
    found = [LINE.match(x) for x in err.splitlines() if "elapsed" in x]
    assert found and all(m is not None and m.group(1) == command for m in found), err
    return found


def test_score_vcf_log_lines(monkeypatch, capsys):
    monkeypatch.setenv("GLRM_LOG_INTERVAL", "0.02")
    monkeypatch.setenv("GLRM_BLOCK_JOBS", "16")          # several blocks, so the counts move during the run
    code = main(["score-vcf", "-i", str(DATA / "chr20_indels.vcf.gz"), "-f", CHR20, "-m", HYENA,
                 "--window", "128", "--device", "cpu", "-o", "-", "--no-version"])
    out, err = capsys.readouterr()
    assert code == 0
    found = progress_lines(err, "score-vcf")
    total = int(found[0].group(3).replace(",", ""))
    done = [int(m.group(2).replace(",", "")) for m in found]
    assert done == sorted(done) and all(d <= total for d in done)
    assert any(int(m.group(5).replace(",", "")) > 0 for m in found)   # passes move
    assert re.search(rf"^glrm score-vcf: {total:,} records, ", err, re.M)   # the summary, at the end
    assert err.splitlines()[-1].startswith("glrm score-vcf: wrote stdout")
    assert not any(x.startswith("glrm") or "alleles/s" in x for x in out.splitlines())
    assert all(x.startswith("#") or x.startswith("20\t") for x in out.splitlines())


def test_score_sv_log_lines(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GLRM_LOG_INTERVAL", "0.02")
    code = main(["score-sv", "-i", str(DATA / "colo829_manta.vcf.gz"), "-f", CHR20, "-m", HYENA,
                 "--window", "256", "--device", "cpu", "-o", str(tmp_path / "sv.vcf")])
    out, err = capsys.readouterr()
    assert code == 0 and out == ""
    progress_lines(err, "score-sv")


def test_quiet_silences_the_lines(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GLRM_LOG_INTERVAL", "0.01")
    code = main(["score-vcf", "-i", str(DATA / "chr20_indels.vcf.gz"), "-f", CHR20, "-m", HYENA,
                 "--window", "128", "--device", "cpu", "-o", str(tmp_path / "o.vcf"), "-q"])
    out, err = capsys.readouterr()
    assert code == 0 and out == "" and err == ""


def test_interval_setting(monkeypatch):
    for value, expected in [("5", 5.0), ("0.5", 0.5), ("0", LOG_INTERVAL), ("-1", LOG_INTERVAL),
                            ("soon", LOG_INTERVAL), ("inf", LOG_INTERVAL)]:
        monkeypatch.setenv("GLRM_LOG_INTERVAL", value)
        assert log_interval() == expected
    monkeypatch.delenv("GLRM_LOG_INTERVAL")
    assert log_interval() == LOG_INTERVAL == 30.0


def test_line_fields():
    """Replayed (--resume) records count toward the total, not toward the rate or the ETA."""
    lines = _Lines(5000, "glrm score-vcf", io.StringIO(), 30.0)
    lines.add(200, 0, scored=False)
    lines.add(1000, 2400, scored=True)
    lines._t0 = 0.0
    assert lines.line(now=60.0) == ("glrm score-vcf: 1,200 of 5,000 records (24.0%), 2,400 ALT alleles, "
                                    "40.0 alleles/s, 1m00s elapsed, ETA 3m48s")
    stdin = _Lines(None, "glrm score-sv", io.StringIO(), 30.0)
    stdin._t0 = 0.0
    assert stdin.line(now=7500.0) == "glrm score-sv: 0 records, 0 ALT alleles, 0.0 alleles/s, 2h05m elapsed"
