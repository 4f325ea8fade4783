"""Typer option declarations that several commands share word for word (score-vcf, score-sv, plan, windows),
and the command line for ##glrmCommand.

Each constant is the default of a command parameter, e.g. `device: str = DEVICE`; one definition keeps the
flags, metavars and help texts of the commands from drifting apart. Options whose help differs between
commands stay in the command's own file, with their default values from `glrm.defaults`. Each command's
parameters are named as the fields of its options (`glrm.pipeline.options`), which it builds with
`from_cli(Options, ctx.params, ...)`.
"""

from __future__ import annotations

import shlex

import typer

from glrm.defaults import DEFAULT_DEVICE, DEFAULT_PRECISION, PRECISIONS


def command_line(ctx: typer.Context) -> str | None:
    """The command line for ##glrmCommand: `glrm ARGS` as `glrm.cli.main.main` was called (it puts the
    arguments in the root context's `obj`), or None when the app was invoked another way (the pipeline then
    records this process's own argv)."""
    obj = ctx.find_root().obj
    argv = obj.get("argv") if isinstance(obj, dict) else None
    return shlex.join(["glrm", *argv]) if argv is not None else None


DEVICE = typer.Option(DEFAULT_DEVICE, "--device", metavar="auto|cpu|cuda:N",
                      help="auto = cuda when available, else cpu.")
PRECISION = typer.Option(DEFAULT_PRECISION, "--precision", metavar="|".join(PRECISIONS),
                         help="Compute precision (bf16: bfloat16 autocast on CUDA).")
REGIONS = typer.Option(None, "--regions", "-r", metavar="REGION",
                       help="Only records in these regions (chr:beg-end[,...]); needs an index.")
REGIONS_FILE = typer.Option(None, "--regions-file", "-R", metavar="BED",
                            help="Only records in the regions of this BED file; needs an index.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary on stderr.")
NO_VERSION = typer.Option(False, "--no-version",
                          help="Do not add ##glrmVersion and ##glrmCommand to the header.")
SHARD = typer.Option(None, "--shard", metavar="i/n",
                     help="Score only shard i of n: a contiguous 1/n of the records (after -r/-R); join the "
                          "shards with glrm merge or bcftools concat.")
RESUME = typer.Option(False, "--resume",
                      help="Checkpoint progress in OUT.glrm-resume/; rerun with the same arguments to "
                           "continue a killed run.")
OUTPUT_TYPE = typer.Option(None, "--output-type", "-O", metavar="v|z|b|u",
                           help="v VCF, z bgzipped VCF, b BCF, u uncompressed BCF. Default: from the output "
                                "name.")
IGNORE_CONTIG_LENGTH = typer.Option(False, "--ignore-contig-length",
                                    help="Accept ##contig lengths that differ from the FASTA's (SURVIVOR "
                                         "writes its simulated genome's): warn instead of stopping. Windows "
                                         "come from the FASTA; ALTs past a contig's end get REF_MISMATCH.")
