"""The `glrm` entry point. Keep start-up light: no torch, numpy or pysam at import time."""

from __future__ import annotations

import sys

import click
import typer

from glrm import __version__
from glrm.errors import GlrmError

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
from glrm.cli.plot import plot as plot_command  # noqa: E402

app.command("plot")(plot_command)
from glrm.cli.merge import merge as merge_command  # noqa: E402

app.command("merge")(merge_command)
from glrm.cli.plan import plan as plan_command  # noqa: E402

app.command("plan")(plan_command)

INTERRUPTED = ("glrm: interrupted; no output was left behind (a --resume checkpoint, if any, is kept: "
               "rerun the same command to continue)")
LAST_ARGV: list[str] | None = None  # the arguments of the running `main` call (for ##glrmCommand)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; turn GlrmError into one line on stderr and a non-zero exit."""
    global LAST_ARGV
    LAST_ARGV = list(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=argv, prog_name="glrm", standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns it
            print(INTERRUPTED, file=sys.stderr)
            return 130
    except GlrmError as exc:
        print(f"glrm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except click.ClickException as exc:  # usage errors: click prints them with the usage line
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        print("glrm: aborted", file=sys.stderr)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
