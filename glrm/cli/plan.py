"""`glrm plan`: predicted memory and time of a run, for one model and window, before a long run.

Thin: the work is in `glrm.pipeline.plan`, imported inside the command so `glrm --help` stays instant.
"""

from __future__ import annotations

import typer

from glrm.cli._options import DEVICE, PRECISION
from glrm.defaults import DEFAULT_BATCH_SIZE


def plan(
    ctx: typer.Context,
    model: str = typer.Option(..., "--model", "-m", metavar="MODEL",
                              help="Checkpoint folder, or a known model name in the local cache "
                                   "(glrm models list)."),
    window: int = typer.Option(None, "--window", "-w", metavar="W",
                               help="Window length in bases. Default: the model's trained context (as "
                                    "score-vcf)."),
    batch_size: str = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", metavar="auto|N",
                                   help="Windows per forward pass; auto = what score-vcf and score-sv pick."),
    chunk_size: str = typer.Option(None, "--chunk-size", metavar="N|auto",
                                   help="Tokens per chunk inside a pass; default: the whole window; auto = "
                                        "what --chunk-size auto picks in score-vcf and score-sv."),
    device: str = DEVICE,
    precision: str = PRECISION,
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate",
                                   help="Time one short forward on the device to predict run times "
                                        "(--no-calibrate: memory only)."),
    threads: int = typer.Option(None, "--threads", metavar="N",
                                help="CPU threads for torch, as the run's --threads. Default: the run's "
                                "default (the CPUs this process may use)."),
) -> None:
    """Print the predicted peak memory of one batch, the batch and chunk a run picks, and the time per window
    and per 1,000 variants, for MODEL at window W on the device (a table on stdout; docs/plan.md).

    Example: glrm plan -m caduceus-ph-131k --window 131072 --device cuda
    """
    from glrm.pipeline.options import PlanOptions, from_cli
    from glrm.pipeline.plan import format_plan, make_plan

    typer.echo(format_plan(make_plan(from_cli(PlanOptions, ctx.params))), nl=False)
