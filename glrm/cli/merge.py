"""`glrm merge`: join the shards of a `--shard i/n` run into one VCF (checked; see glrm.pipeline.merge).

Thin: the work is in `glrm.pipeline.merge`, imported inside the command so `glrm --help` stays instant.
"""

from __future__ import annotations

import sys

import typer

from glrm.cli._options import OUTPUT_TYPE


def merge(
    shards: list[str] = typer.Argument(..., metavar="SHARD",
                                       help="The shard outputs (score-vcf/score-sv --shard i/n), any order."),
    output: str = typer.Option(..., "--output", "-o", metavar="OUT",
                               help="Merged VCF; '-' = stdout. .gz = bgzipped + tabix index, .bcf = BCF."),
    output_type: str = OUTPUT_TYPE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary line on stderr."),
) -> None:
    """Join the shards of one `--shard i/n` run into one VCF, in shard order, records untouched.

    Checks that shards 1..n are all there once, come from the same run (same header apart from
    ##glrmShard and ##glrmCommand) and are complete (record counts), before the output is committed.

    Example: glrm merge -o scored.vcf.gz shard1.vcf.gz shard2.vcf.gz shard3.vcf.gz
    """
    from glrm.pipeline.merge import merge as run

    n = run(shards, output, output_type)
    if not quiet:
        print(f"glrm merge: {n:,} records from {len(shards)} shards; wrote "
              f"{'stdout' if output == '-' else output}", file=sys.stderr)
