"""Static checks of containers/Dockerfile and containers/apptainer.def (they cannot be built in CI).

They must install this repository with the `cuda` extra on a CUDA base, keep the base image's torch, expose
the `glrm` console script, and stay usable by workflow managers
(no ENTRYPOINT: Nextflow runs `bash -c` inside).
"""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "containers" / "Dockerfile").read_text()
APPTAINER = (ROOT / "containers" / "apptainer.def").read_text()
PYPROJECT = (ROOT / "pyproject.toml").read_text()


def _instructions(text: str) -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), comments dropped and continuation lines joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^(\w+)\s+(.*)$", joined, re.M)]


def test_the_cuda_extra_and_the_entry_point_exist():
    assert re.search(r'^glrm = "glrm\.cli\.main:main"$', PYPROJECT, re.M)
    cuda = re.search(r"^cuda = \[(.*)\]$", PYPROJECT, re.M).group(1)
    assert '"mamba-ssm' in cuda and '"causal-conv1d' in cuda


def test_dockerfile_installs_glrm_cuda_on_a_cuda_base():
    ins = _instructions(DOCKERFILE)
    keywords = [k for k, _ in ins]
    assert keywords[0] == "FROM"
    assert re.fullmatch(r"pytorch/pytorch:[\w.]+-cuda[\d.]+-cudnn\d+-devel", ins[0][1])
    assert "ENTRYPOINT" not in keywords
    copies = [a for k, a in ins if k == "COPY"]
    assert "glrm ./glrm" in copies and any(a.startswith("pyproject.toml") for a in copies)
    (run,) = [a for k, a in ins if k == "RUN"]
    assert 'pip install --no-build-isolation -c /tmp/torch-pin.txt ".[cuda]"' in run
    assert "torch.__version__" in run and "glrm --version" in run
    assert ("CMD", '["glrm", "--help"]') in ins
    ignore = (ROOT / "containers" / "Dockerfile.dockerignore").read_text().split()
    assert ".venv" in ignore and ".git" in ignore


def test_apptainer_def_matches_the_dockerfile():
    assert re.search(r"^Bootstrap: docker$", APPTAINER, re.M)
    base = re.search(r"^From: (\S+)$", APPTAINER, re.M).group(1)
    assert f"FROM {base}" in DOCKERFILE
    sections = dict(re.findall(r"^%(\w+)\n(.*?)(?=^%|\Z)", APPTAINER, re.M | re.S))
    assert set(sections) >= {"files", "post", "runscript", "test"}
    assert "glrm /opt/glrm/glrm" in sections["files"]
    assert 'pip install --no-build-isolation -c /tmp/torch-pin.txt ".[cuda]"' in sections["post"]
    assert sections["runscript"].split() == ["exec", "glrm", '"$@"']
    assert "glrm --version" in sections["test"]
    # Both say how to give the container the GPU.
    assert "--gpus all" in DOCKERFILE and "--nv" in APPTAINER
