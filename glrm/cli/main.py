"""The `glrm` entry point. Keep start-up light: no torch, numpy or pysam at import time."""

from __future__ import annotations

import importlib
import sys

import typer

from glrm import __version__
from glrm.errors import GlrmError
from glrm.resources import keep_freed_memory, passive_openmp

app = typer.Typer(
    name="glrm",
    help="Score genetic variants with long-context DNA language models (HyenaDNA, Caduceus, Mamba).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"glrm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """glrm: long-context variant scoring."""


# Commands register themselves here, one line each, once they work.
from glrm.cli.models import app as models_app  # noqa: E402

app.add_typer(models_app, name="models")
from glrm.cli.windows import windows as windows_command  # noqa: E402

app.command("windows")(windows_command)
from glrm.cli.score_vcf import score_vcf as score_vcf_command  # noqa: E402

app.command("score-vcf")(score_vcf_command)
from glrm.cli.score_sv import score_sv as score_sv_command  # noqa: E402

app.command("score-sv")(score_sv_command)
from glrm.cli.score_haplotypes import score_haplotypes as score_haplotypes_command  # noqa: E402

app.command("score-haplotypes")(score_haplotypes_command)
from glrm.cli.plot import plot as plot_command  # noqa: E402

app.command("plot")(plot_command)
from glrm.cli.merge import merge as merge_command  # noqa: E402

app.command("merge")(merge_command)
from glrm.cli.plan import plan as plan_command  # noqa: E402

app.command("plan")(plan_command)

INTERRUPTED = ("glrm: interrupted; no output was left behind (a --resume checkpoint, if any, is kept: "
               "rerun the same command to continue)")


def _ignore_sigxfsz() -> None:
    """Past a file-size limit (ulimit -f) a write then fails with EFBIG, which glrm reports in one line after
    removing its temporary files, instead of SIGXFSZ killing the process and leaving them behind."""
    import signal

    if hasattr(signal, "SIGXFSZ"):
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        except ValueError:  # main() called from another thread: signals belong to the main thread
            pass


def _click_exceptions(name: str) -> tuple[type[BaseException], ...]:
    """Click's exception class `name`, from every click typer may raise it from: typer >= 0.26 bundles its own
    copy of click (`typer._click`), older typer uses the `click` package. Both are caught, so a usage error is
    one line whichever typer pip picked."""
    found: list[type[BaseException]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if cls is not None and cls not in found:
            found.append(cls)
    return tuple(found)


_NO_ARGS = _click_exceptions("NoArgsIsHelpError")  # bare `glrm`, `glrm models` (click >= 8.2)
_USAGE = _click_exceptions("UsageError")  # unknown command or option, missing or bad value
_CLICK = _click_exceptions("ClickException")
_ABORT = (typer.Abort, *_click_exceptions("Abort"))  # typer >= 0.29 defines its own Abort and Exit
_EXIT = (typer.Exit, *_click_exceptions("Exit"))
USAGE_EXIT = 2  # a usage error, and a bare `glrm` or `glrm models` (after their help), exit with 2


def _usage_line(exc: BaseException) -> str:
    """`glrm: error: MESSAGE (see 'glrm COMMAND --help')`, on one line."""
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "glrm"
    return f"glrm: error: {message} (see '{path} --help')"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; turn GlrmError and usage errors into one line on stderr and a non-zero exit."""
    args = list(sys.argv[1:] if argv is None else argv)
    _ignore_sigxfsz()
    passive_openmp()   # before anything imports torch: idle OpenMP threads sleep instead of spinning
    keep_freed_memory()   # forwards reuse freed buffers instead of faulting in fresh pages
    try:
        # the arguments reach the commands through the context (glrm.cli._options.command_line)
        code = app(args=argv, prog_name="glrm", standalone_mode=False, obj={"argv": args})
        if code == 130:  # typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns it
            print(INTERRUPTED, file=sys.stderr)
            return 130
        if isinstance(code, int) and code:  # a command's own typer.Exit(status): `models check --strict`
            return code
    except GlrmError as exc:
        print(f"glrm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except _NO_ARGS as exc:  # a group without its command: its help (typer's rich help prints it itself)
        text = exc.format_message()  # type: ignore[attr-defined]
        if text.strip():
            print(text, file=sys.stderr)
        return USAGE_EXIT
    except _USAGE as exc:
        print(_usage_line(exc), file=sys.stderr)
        return USAGE_EXIT
    except _CLICK as exc:
        print(f"glrm: error: {exc.format_message()}", file=sys.stderr)  # type: ignore[attr-defined]
        return exc.exit_code  # type: ignore[attr-defined]
    except _ABORT:
        print("glrm: aborted", file=sys.stderr)
        return 130
    except _EXIT as exc:
        return exc.exit_code  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
