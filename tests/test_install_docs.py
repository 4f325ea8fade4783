"""The install and the README say the same thing: `make install` takes torch from TORCH_INDEX only when set
(checked with `make -n`, no network), install hints are commands that work from a checkout, the README's usage
commands run after activating `.venv`, its demo rows are what the demo prints, and the packaging metadata
builds without setuptools' license deprecation banner."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from glrm.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _make_install_lines(*args: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    run = subprocess.run(["make", "-n", "-B", "install", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    return [line.strip() for line in run.stdout.splitlines()]


def test_make_install_takes_torch_from_torch_index_only_when_set():
    default = [line for line in _make_install_lines() if "torch==" in line]
    assert default == [".venv/bin/pip install -q torch==2.13.0"]  # pip's configured index
    cpu = [line for line in _make_install_lines(f"TORCH_INDEX={CPU_INDEX}") if "torch==" in line]
    assert cpu == [f".venv/bin/pip install -q torch==2.13.0 --index-url {CPU_INDEX}"]
    later = [line for line in _make_install_lines(f"TORCH_INDEX={CPU_INDEX}") if "-e '.[" in line]
    assert later == [".venv/bin/pip install -q -c constraints.txt -e '.[dev,plot]'"]  # glrm keeps that torch


def test_torch_pin_is_the_same_in_the_makefile_and_constraints():
    pins = re.findall(r"^torch==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    assert pins == ["2.13.0"]
    assert "torch==2.13.0" in (ROOT / "Makefile").read_text()
    assert "torch 2.13.0" in README and f"TORCH_INDEX={CPU_INDEX}" in README


def _hint_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "glrm").rglob("*.py"))]
    files += [p for p in sorted((ROOT / "examples").rglob("*")) if p.is_file()
              and (p.suffix in {".md", ".yaml", ".nf", ".config", ".py"} or p.name == "Snakefile")]
    return files


def test_install_hints_work_from_a_checkout():
    """No hint names a `glrm[...]` package (glrm is on no index); every `.[extra]` is one of pyproject's."""
    extras = set(_pyproject()["project"]["optional-dependencies"])
    for path in _hint_files():
        text = path.read_text()
        assert not re.search(r"glrm\[\w+\]", text), path
        assert "'glrm[" not in text, path
        for group in re.findall(r"""['"]\.\\*\[([\w,]+)\]['"]""", text):
            assert set(group.split(",")) <= extras, (path, group)


def test_pyproject_license_is_spdx_with_a_setuptools_that_reads_it():
    data = _pyproject()
    assert data["project"]["license"] == "MIT"
    assert "setuptools>=77" in data["build-system"]["requires"]


def test_typer_lower_bound_is_one_whose_click_gives_exit_2():
    deps = _pyproject()["project"]["dependencies"]
    assert "typer>=0.24" in deps


def test_readme_usage_activates_the_venv_before_any_bare_glrm():
    activate = README.index("source .venv/bin/activate")
    assert activate < README.index("## Usage") + 400
    for block in re.finditer(r"```bash\n(.*?)```", README, re.S):
        for line in block.group(1).splitlines():
            if re.match(r"\s*(for .*; do )?glrm ", line):
                assert block.start() > activate, line  # bare `glrm` only once the venv is active
    before = README[:activate]
    assert re.findall(r"^glrm ", before, re.M) == []


def _readme_demo_rows() -> list[list[str]]:
    block = re.search(r"```text\n(#chrom.*?)```", README, re.S).group(1)
    return [line.split() for line in block.splitlines()[1:]]


def _close(readme: str, got: str) -> bool:
    if readme == "." or got == ".":
        return readme == got
    return math.isclose(float(readme), float(got), rel_tol=1e-3, abs_tol=1e-6)


def test_readme_says_the_demo_digits_can_vary():
    assert "last digits can vary across" in README


def test_readme_demo_rows_are_what_the_demo_prints(tmp_path):
    """The README's BED rows, scored again on their own (`-r`), agree to the last digits that vary by CPU."""
    rows = _readme_demo_rows()
    assert len(rows) == 5
    demo = ROOT / "examples" / "demo"
    regions = ",".join(f"{c}:{int(s) + 1}-{int(s) + 1}" for c, s, *_ in rows)
    bed = tmp_path / "demo.bed"
    rc = main(["score-vcf", "-i", str(demo / "demo.vcf.gz"), "-f", str(demo / "chr20_demo.fa.gz"),
               "-m", str(demo / "model"), "--device", "cpu", "-o", str(tmp_path / "demo.vcf.gz"),
               "--bed", str(bed), "-r", regions, "--quiet"])
    assert rc == 0
    got = {r[3]: r for r in (line.split("\t") for line in bed.read_text().splitlines()[1:])}
    for row in rows:
        other = got[row[3]]
        assert other[:4] == row[:4] and other[-1] == row[-1], (row, other)
        for a, b in zip(row[4:-1], other[4:-1], strict=True):
            assert _close(a, b), (row, other)
