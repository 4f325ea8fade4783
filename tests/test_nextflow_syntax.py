"""Static checks of the Nextflow example (examples/nextflow): Groovy lexing, brackets, nf-core structure.

Nextflow itself cannot run in CI (its launcher downloads a jar) and no Python package parses Nextflow DSL2
(the tree-sitter Groovy grammar on PyPI rejects plain Nextflow such as `tuple val(meta), path(vcf)`). So this
is NOT a real parser: Pygments' Groovy lexer tokenizes the files (strings, GStrings, comments, slashy strings;
an unterminated string is an error token), then our own checks ask for balanced brackets and `${...}`
interpolations, the process sections in order, the nf-core inputs/outputs/directives, includes that resolve,
and a meta.yml that matches the module. The tests at the end show each check catches a broken file.
"""

import pathlib
import re

import pytest
import yaml
from pygments.lexers import GroovyLexer
from pygments.token import Comment, Error, String

ROOT = pathlib.Path(__file__).resolve().parents[1]
NF = ROOT / "examples" / "nextflow"
MODULE = NF / "modules" / "glrm" / "score" / "main.nf"
MERGE = NF / "modules" / "glrm" / "merge" / "main.nf"
SCORE_SV = NF / "modules" / "glrm" / "score_sv" / "main.nf"
PAIRS = {")": "(", "]": "[", "}": "{"}
SECTIONS = ("input", "output", "when", "script", "stub")


class NfSyntaxError(ValueError):
    pass


def _line(src: str, offset: int) -> int:
    return src.count("\n", 0, offset) + 1


def _check_interpolations(text: str, where: str) -> None:
    """Every `${` in a double-quoted string closes (nested braces counted; `\\$` is a literal dollar)."""
    i = 0
    while (i := text.find("${", i)) != -1:
        if i > 0 and text[i - 1] == "\\":
            i += 2
            continue
        depth, j = 0, i + 1
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                break
            j += 1
        if depth != 0:
            raise NfSyntaxError(f"{where}: unclosed '${{' in a string")
        i = j


def check_groovy(src: str, name: str = "<nf>") -> list[tuple[str, str, int]]:
    """Lex `src`; raise NfSyntaxError on an error token or unbalanced brackets. Returns the code tokens."""
    stack: list[tuple[str, int]] = []
    code = []
    for offset, tok, value in GroovyLexer().get_tokens_unprocessed(src):
        if tok in Error:
            raise NfSyntaxError(f"{name}:{_line(src, offset)}: cannot lex {value!r} (unterminated string?)")
        if tok in String:
            if tok in String.Double:
                _check_interpolations(value, f"{name}:{_line(src, offset)}")
        elif tok not in Comment:
            for k, ch in enumerate(value):
                if ch in "([{":
                    stack.append((ch, offset + k))
                elif ch in ")]}":
                    if not stack or stack[-1][0] != PAIRS[ch]:
                        raise NfSyntaxError(f"{name}:{_line(src, offset + k)}: unmatched {ch!r}")
                    stack.pop()
            code.append((str(tok), value, offset))
    if stack:
        ch, at = stack[-1]
        raise NfSyntaxError(f"{name}:{_line(src, at)}: {ch!r} is never closed")
    return code


def _block(src: str, header: str) -> str:
    """The body of the top-level block `header {...}` (header a regex), braces matched by the lexer."""
    m = re.search(rf"^{header}\s*\{{", src, re.M)
    if not m:
        raise NfSyntaxError(f"no block matching {header!r}")
    depth, start = 0, m.end() - 1
    for tok, value, off in check_groovy(src):
        if tok.startswith("Token.Literal.String"):
            continue
        for k, ch in enumerate(value):
            if off + k < start:
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth == 0:
                return src[start + 1: off + k]
    raise NfSyntaxError(f"block {header!r} never closes")


def check_process(src: str, name: str) -> dict[str, str]:
    """Lex-check a module and split `process NAME {...}` into its sections; check their order and contents."""
    check_groovy(src, name)
    body = _block(src, rf"process\s+{name}")
    labels = [(m.group(1), m.start(), m.end()) for m in re.finditer(r"^\s{4}(\w+):\s*$", body, re.M)]
    found = [label for label, _, _ in labels]
    in_order = [s for s in SECTIONS if s in found] == [s for s in found if s in SECTIONS]
    if not in_order or not set(found) <= set(SECTIONS):
        raise NfSyntaxError(f"{name}: sections {found} are not in the order {SECTIONS}")
    for required in ("input", "output", "script", "stub"):
        if required not in found:
            raise NfSyntaxError(f"{name}: no {required}: section")
    sections = {"directives": body[: labels[0][1]]}
    for (label, _, end), nxt in zip(labels, [*labels[1:], None], strict=True):
        sections[label] = body[end: nxt[1] if nxt else len(body)]
    for sec in ("script", "stub"):
        if '"""' not in sections[sec]:
            raise NfSyntaxError(f"{name}: the {sec}: section has no command string")
    return sections


def test_every_nextflow_file_lexes_with_balanced_brackets():
    files = [*NF.rglob("*.nf"), NF / "nextflow.config"]
    assert len(files) == 5
    for f in files:
        check_groovy(f.read_text(), str(f.relative_to(ROOT)))


def test_score_module_is_nf_core_shaped():
    sec = check_process(MODULE.read_text(), "GLRM_SCORE")
    assert "label 'process_gpu'" in sec["directives"] and "tag " in sec["directives"]
    inputs = [line.strip() for line in sec["input"].strip().splitlines()]
    assert inputs == ["tuple val(meta), path(vcf), path(tbi)", "path fasta", "path fai", "path model"]
    emits = re.findall(r"emit:\s*(\w+)", sec["output"])
    assert emits == ["vcf", "tbi", "versions"]
    assert 'path "versions.yml"' in sec["output"]
    script = sec["script"]
    assert "task.ext.args" in script and "${args}" in script
    assert "glrm score-vcf" in script and "--shard ${meta.shard}/${meta.shards}" in script
    for flag in ("-i ${vcf}", "-f ${fasta}", "-m ${model}", "-o ${prefix}.glrm.vcf.gz"):
        assert flag in script
    # The stub makes every declared output, so `-stub-run` wires the pipeline without glrm.
    for out in ("${prefix}.glrm.vcf.gz", "${prefix}.glrm.vcf.gz.tbi", "versions.yml"):
        assert out in sec["stub"]


def test_score_sv_module_is_nf_core_shaped():
    sec = check_process(SCORE_SV.read_text(), "GLRM_SCORE_SV")
    assert "label 'process_gpu'" in sec["directives"] and "tag " in sec["directives"]
    inputs = [line.strip() for line in sec["input"].strip().splitlines()]
    assert inputs == ["tuple val(meta), path(vcf), path(tbi)", "path fasta", "path fai", "path model"]
    assert re.findall(r"emit:\s*(\w+)", sec["output"]) == ["vcf", "tbi", "bed", "tracks", "versions"]
    assert 'path "versions.yml"' in sec["output"]
    assert re.search(r'path\("\*\.tracks"\),\s*emit: tracks, optional: true', sec["output"])
    script = sec["script"]
    assert "task.ext.args" in script and "${args}" in script
    assert "glrm score-sv" in script and "--shard ${meta.shard}/${meta.shards}" in script
    for flag in ("-i ${vcf}", "-f ${fasta}", "-m ${model}", "--window ${window}", "${chunk}", "${tracks}",
                 "-o ${prefix}.glrm.vcf.gz", "--bed ${prefix}.glrm.bed", "task.ext.window",
                 "task.ext.chunk_size", "task.ext.tracks"):
        assert flag in script
    for out in ("${prefix}.glrm.vcf.gz", "${prefix}.glrm.vcf.gz.tbi", "${prefix}.glrm.bed", "versions.yml"):
        assert out in sec["stub"]
    src = (NF / "main.nf").read_text()
    wf = _block(src, "workflow")
    assert "GLRM_SCORE_SV(" in wf and ".groupTuple(size: m)" in wf and "GLRM_MERGE_SV(" in wf
    config = (NF / "nextflow.config").read_text()
    for key in ("sv_vcf", "sv_window", "sv_chunk_size", "sv_tracks", "sv_shards"):
        assert re.search(rf"^\s+{key}\s*=", _block(config, "params"), re.M), key
    for rel in re.findall(r'params\.sv_\w+\s*=\s*"\$\{projectDir\}/([^"]+)"', config):
        assert (NF / rel).exists(), f"the test profile's {rel} does not exist"


def test_merge_module_and_pipeline_scatter_and_gather():
    sec = check_process(MERGE.read_text(), "GLRM_MERGE")
    assert "glrm merge ${args} -o ${prefix}.glrm.vcf.gz ${shards}" in sec["script"]
    src = (NF / "main.nf").read_text()
    check_groovy(src, "main.nf")
    includes = re.findall(r"include\s*\{\s*(\w+)(?:\s+as\s+\w+)?\s*\}\s*from\s*'([^']+)'", src)
    assert [n for n, _ in includes] == ["GLRM_SCORE", "GLRM_SCORE_SV", "GLRM_MERGE", "GLRM_MERGE"]
    for proc, rel in includes:
        target = (NF / rel).with_suffix(".nf")
        assert target.exists(), f"include {rel} does not resolve"
        assert re.search(rf"^process\s+{proc}\s*\{{", target.read_text(), re.M)
    wf = _block(src, "workflow")
    assert "Channel.of(1..n)" in wf and "shard: i, shards: n" in wf
    assert "GLRM_SCORE(" in wf and ".groupTuple(size: n)" in wf and "GLRM_MERGE(ch_gather)" in wf


def test_config_has_gpu_test_and_container_profiles():
    src = (NF / "nextflow.config").read_text()
    check_groovy(src, "nextflow.config")
    profiles = _block(src, "profiles")
    for name in ("gpu", "test", "docker", "apptainer", "singularity"):
        assert re.search(rf"^\s{{4}}{name}\s*\{{", profiles, re.M), f"no {name} profile"
    gpu = _block(profiles.replace("\n    ", "\n"), "gpu")
    assert "accelerator      = 1" in gpu
    assert "'--nv'" in gpu and "'--gpus all'" in gpu and "'apptainer'" in gpu
    params = _block(src, "params")
    for key in ("vcf", "fasta", "model"):
        m = re.search(rf'^\s+{key}\s*=\s*"\$\{{projectDir\}}/([^"]+)"', params, re.M)
        assert m and (NF / m.group(1)).exists(), f"params.{key} does not point at the demo"


@pytest.mark.parametrize(("module", "outputs"), [(MODULE, ["vcf", "tbi", "versions"]),
                                                (SCORE_SV, ["vcf", "tbi", "bed", "tracks", "versions"])])
def test_meta_yml_matches_the_module(module, outputs):
    meta = yaml.safe_load((module.parent / "meta.yml").read_text())
    assert meta["name"] == f"glrm_{module.parent.name}"
    names = [next(iter(item)) for group in meta["input"] for item in group]
    assert names == ["meta", "vcf", "tbi", "fasta", "fai", "model"]
    assert [next(iter(o)) for o in meta["output"]] == outputs
    # each output's file pattern is one the module declares
    src = module.read_text()
    for o in meta["output"]:
        for item in next(iter(o.values())):
            name = next(iter(item))
            if name != "meta":
                assert f'"{name}"' in src, f"{module.parent.name}/meta.yml: output {name} is not in main.nf"


@pytest.mark.parametrize(("module", "process", "command"), [(MODULE, "GLRM_SCORE", "glrm score-vcf"),
                                                            (SCORE_SV, "GLRM_SCORE_SV", "glrm score-sv")])
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s, c: s.replace("task.ext.when\n", "task.ext.when\n    }\n", 1), "unmatched"),
        (lambda s, c: s.replace("tag \"${meta.id}\"", "tag \"${meta.id}", 1), "cannot lex"),
        (lambda s, c: s.replace("--shard ${meta.shard}/", "--shard ${meta.shard/", 1), "unclosed"),
        (lambda s, c: s.replace(c, c + " (", 1), None),
        (lambda s, c: s[: s.index("    stub:")] + "}\n", "no stub: section"),
        (lambda s, c: s.replace("    output:", "    outputs:", 1), "not in the order"),
    ],
)
def test_checks_reject_broken_modules(module, process, command, edit, message):
    src = module.read_text()
    broken = edit(src, command)
    assert broken != src
    if message is None:
        # A bracket inside the shell command string is shell text, not Groovy: still fine.
        check_process(broken, process)
        return
    with pytest.raises(NfSyntaxError, match=message):
        check_process(broken, process)
