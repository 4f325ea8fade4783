"""`glrm score-sv`: score the structural variants of a VCF with a long-context DNA language model.

Thin: the work is in `glrm.pipeline.score_sv`, imported inside the command so `glrm --help` stays instant.
"""

from __future__ import annotations

import typer

from glrm.cli._options import (
    DEVICE,
    IGNORE_CONTIG_LENGTH,
    NO_VERSION,
    OUTPUT_TYPE,
    PRECISION,
    QUIET,
    REGIONS,
    REGIONS_FILE,
    RESUME,
    SHARD,
    command_line,
)
from glrm.defaults import DEFAULT_EMB_FLANK, DEFAULT_MAX_N_FRAC, DEFAULT_MAX_SV_LEN, DEFAULT_RC, RC_MODES


def score_sv(
    ctx: typer.Context,
    input: str = typer.Option(..., "--input", "-i", metavar="VCF",
                              help="Input SV VCF/BCF (plain, bgzipped or BCF; '-' = stdin)."),
    fasta: str = typer.Option(..., "--fasta", "-f", metavar="FASTA",
                              help="Reference FASTA the VCF was called against (every mate contig too)."),
    model: str = typer.Option(..., "--model", "-m", metavar="MODEL",
                              help="Checkpoint folder, or a known model name in the local cache."),
    output: str = typer.Option("-", "--output", "-o", metavar="OUT",
                               help="Output VCF; '-' = stdout. .gz = bgzipped + tabix index, .bcf = BCF."),
    bed: str = typer.Option(None, "--bed", metavar="OUT.bed",
                            help="Also write one BED row per ALT (main score GLRM_SV_EMB)."),
    output_type: str = OUTPUT_TYPE,
    window: int = typer.Option(None, "--window", "-w", metavar="W",
                               help="Window length in bases, e.g. 1000000. Default: the model's trained "
                                    "context."),
    max_sv_len: int = typer.Option(DEFAULT_MAX_SV_LEN, "--max-sv-len", metavar="N",
                                   help="Events longer than N bases (deleted or inserted) get TOO_LONG."),
    chunk_size: str = typer.Option(None, "--chunk-size", metavar="N|auto",
                                   help="Run each window N tokens at a time (Mamba/Caduceus carry state "
                                        "across chunks); auto = from free memory. Default: one pass."),
    emb_flank: int = typer.Option(DEFAULT_EMB_FLANK, "--emb-flank", metavar="K",
                                  help="GLRM_SV_EMB averages embeddings over aligned flank bases within K bp "
                                       "of the event."),
    track_dir: str = typer.Option(None, "--track-dir", metavar="DIR",
                                  help="Write one bedGraph per scored SV (per-position embedding change; "
                                       "IGV, glrm plot). Created when missing."),
    rc: str = typer.Option(DEFAULT_RC, "--rc", metavar="|".join(RC_MODES),
                           help="mean: also score the reverse-complement strand and average the two."),
    device: str = DEVICE,
    precision: str = PRECISION,
    max_n_frac: float = typer.Option(DEFAULT_MAX_N_FRAC, "--max-n-frac", metavar="F",
                                     help="N_CONTENT (not scored) when more than this fraction of a ref "
                                          "window is N."),
    regions: str = REGIONS,
    regions_file: str = REGIONS_FILE,
    threads: int = typer.Option(None, "--threads", metavar="N",
                                help="CPU threads for torch. Default: the CPUs this process may use."),
    quiet: bool = QUIET,
    no_version: bool = NO_VERSION,
    shard: str = SHARD,
    resume: bool = RESUME,
    ignore_contig_length: bool = IGNORE_CONTIG_LENGTH,
) -> None:
    """Score every structural-variant ALT of a VCF; write the VCF with GLRM_SV_* INFO keys.

    Symbolic DEL, DUP, DUP:TANDEM, INV, INS (with a sequence), sequence-resolved SVs and BND (all four
    forms). Records are written in input order and otherwise unchanged; every ALT gets GLRM_STATUS.

    Example: glrm score-sv -i sv.vcf.gz -f ref.fa -m caduceus-ph-131k -o scored.vcf.gz --window 1000000
    --chunk-size auto --track-dir tracks/
    """
    from glrm.pipeline.options import ScoreSvOptions, from_cli
    from glrm.pipeline.score_sv import score_sv as run

    run(from_cli(ScoreSvOptions, ctx.params, command_line=command_line(ctx)))
