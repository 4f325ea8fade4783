"""Usage errors through the real entry point (`glrm.cli.main:main` and the installed `glrm` console script):
one line `glrm: error: ...` on stderr and exit 2, never a traceback, whichever click typer raises them from
(typer >= 0.26 bundles its own copy as `typer._click`; older typer uses the `click` package)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import glrm.cli.main as cli_main
from glrm.cli.main import main

GLRM = Path(sys.executable).with_name("glrm")  # the console script pip installed next to this Python

# argv, a piece of the one stderr line
USAGE_ERRORS = [
    (["score-vcf"], "Missing option '--input' / '-i'"),
    (["--bogus"], "--bogus"),
    (["--window", "abc"], "--window"),  # an option of score-vcf given to glrm itself
    (["score-vcf", "-i", "x.vcf", "-f", "x.fa", "-m", "m", "--window", "abc"],
     "Invalid value for '--window'"),
    (["scorevcf"], "No such command 'scorevcf'"),
    (["models", "bogus"], "No such command 'bogus'"),
    (["windows", "-i"], "requires an argument"),
]


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("glrm: error: ")
    return lines[0]


@pytest.mark.parametrize(("argv", "piece"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_error_is_one_line_and_exit_2(argv, piece, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    line = _one_error_line(err)
    assert piece in line
    assert line.endswith("--help')")  # names the help of the command that was being parsed
    assert out == ""


def test_usage_error_names_the_subcommand_help(capsys):
    assert main(["score-vcf"]) == 2
    assert "(see 'glrm score-vcf --help')" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["models"]], ids=["glrm", "glrm models"])
def test_bare_group_prints_its_help_and_exits_2(argv, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert "Usage:" in out + err and "Commands" in out + err


def test_help_and_version_still_exit_0(capsys):
    assert main(["--help"]) == 0
    assert "Usage:" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("glrm ")


def _click_modules():
    found = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            pass
    return found


@pytest.mark.parametrize("module", _click_modules(), ids=lambda m: m.__name__)
def test_exceptions_of_either_click_are_caught(module, monkeypatch, capsys):
    """Whichever click typer was built on, its usage errors, aborts and exits become exit codes."""
    def raising(exc):
        def app(**_kwargs):
            raise exc
        return app

    monkeypatch.setattr(cli_main, "app", raising(module.UsageError("bad thing")))
    assert main([]) == 2
    assert _one_error_line(capsys.readouterr().err) == "glrm: error: bad thing (see 'glrm --help')"
    monkeypatch.setattr(cli_main, "app", raising(module.ClickException("other thing")))
    assert main([]) == 1
    assert _one_error_line(capsys.readouterr().err) == "glrm: error: other thing"
    # typer >= 0.29 keeps Abort and Exit in typer.exceptions, outside its bundled click
    monkeypatch.setattr(cli_main, "app", raising(getattr(module, "Abort", typer.Abort)()))
    assert main([]) == 130
    monkeypatch.setattr(cli_main, "app", raising(getattr(module, "Exit", typer.Exit)(3)))
    assert main([]) == 3


def _run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([str(GLRM), *args], capture_output=True, text=True, env=env, timeout=120)


needs_script = pytest.mark.skipif(not GLRM.is_file(),
                                  reason=f"no console script at {GLRM} (pip install -e .)")


@needs_script
@pytest.mark.parametrize("argv", [["--window", "abc"], ["score-vcf"], ["scorevcf"], ["--bogus"]],
                         ids=lambda a: " ".join(a))
def test_console_script_usage_errors(argv):
    run = _run_script(*argv)
    assert run.returncode == 2, run.stderr
    _one_error_line(run.stderr)
    assert run.stdout == ""


@needs_script
def test_console_script_bare_glrm_prints_help_exit_2():
    run = _run_script()
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "score-vcf" in run.stdout + run.stderr


@needs_script
def test_plot_help_shows_the_extra_in_brackets():
    """Rich markup would read `[plot]` as a style tag and drop it; the help escapes it."""
    run = _run_script("plot", "--help")
    assert run.returncode == 0, run.stderr
    assert "pip install -e '.[plot]'" in run.stdout
    assert "'glrm'" not in run.stdout and "'.'" not in run.stdout
