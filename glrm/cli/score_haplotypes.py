"""`glrm score-haplotypes`: each variant's effect in each sample's own phased haplotypes (bcftools' options).

Thin: the work is in `glrm.pipeline.score_haplotypes`, imported inside the command so `glrm --help` stays
instant.
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
    command_line,
)
from glrm.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EMB_FLANK,
    DEFAULT_MAX_N_FRAC,
    DEFAULT_RC,
    DEFAULT_REF_MISMATCH,
    RC_MODES,
    REF_MISMATCH_MODES,
)


def score_haplotypes(
    ctx: typer.Context,
    input: str = typer.Option(..., "--input", "-i", metavar="VCF",
                              help="Phased multi-sample VCF/BCF (GT as 0|1): the backgrounds, and the "
                                   "targets unless --targets is given ('-' = stdin, without -r/-R/"
                                   "--targets)."),
    fasta: str = typer.Option(..., "--fasta", "-f", metavar="FASTA",
                              help="Reference FASTA the VCF was called against."),
    model: str = typer.Option(..., "--model", "-m", metavar="MODEL",
                              help="Checkpoint folder, or a known model name in the local cache."),
    output: str = typer.Option("-", "--output", "-o", metavar="OUT",
                               help="Output VCF; '-' = stdout. .gz: bgzipped and indexed; .bcf: BCF."),
    output_type: str = OUTPUT_TYPE,
    bed: str = typer.Option(None, "--bed", metavar="OUT.bed",
                            help="Also write one BED row per target ALT with the INFO summaries."),
    targets: str = typer.Option(None, "--targets", "-t", metavar="VCF",
                                help="Score these variants (a VCF, sites-only or with the same samples) in "
                                     "the backgrounds of -i, which then needs an index; the output holds the "
                                     "targets' records."),
    samples: str = typer.Option(None, "--samples", "-s", metavar="LIST",
                                help="Only these samples (comma-separated names); others get '.'."),
    samples_file: str = typer.Option(None, "--samples-file", "-S", metavar="FILE",
                                     help="Only the samples named in FILE, one a line."),
    window: int = typer.Option(None, "--window", "-w", metavar="W",
                               help="Window length in bases. Default: the model's trained context."),
    scores: str = typer.Option(None, "--scores", metavar="LIST",
                               help="Scores per haplotype (score-vcf's names: llr,cllr,mlr,emb,evo2,"
                                    "gpn_llr,gpn_cos,gpn_euc). Default: cllr (causal models), mlr (masked)."),
    rc: str = typer.Option(DEFAULT_RC, "--rc", metavar="|".join(RC_MODES),
                           help="mean: also score the reverse-complement strand and average the two."),
    emb_flank: int = typer.Option(DEFAULT_EMB_FLANK, "--emb-flank", metavar="K",
                                  help="GLRM_EMB averages embeddings over the variant +- K bases."),
    device: str = DEVICE,
    precision: str = PRECISION,
    batch_size: str = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", metavar="auto|N",
                                   help="Windows per forward pass; auto = from free memory and W."),
    chunk_size: str = typer.Option(None, "--chunk-size", metavar="N|auto",
                                   help="Run each window through the model N tokens at a time."),
    ref_mismatch: str = typer.Option(DEFAULT_REF_MISMATCH, "--ref-mismatch",
                                     metavar="|".join(REF_MISMATCH_MODES),
                                     help="A target's REF differs from the FASTA: status (REF_MISMATCH) or "
                                          "error."),
    max_n_frac: float = typer.Option(DEFAULT_MAX_N_FRAC, "--max-n-frac", metavar="F",
                                     help="N_CONTENT when more than this fraction of a ref window is N."),
    regions: str = REGIONS,
    regions_file: str = REGIONS_FILE,
    threads: int = typer.Option(None, "--threads", metavar="N",
                                help="CPU threads for torch. Default: the CPUs this process may use."),
    tile: bool = typer.Option(False, "--tile", help="Tile mode, as score-vcf's (docs/performance.md)."),
    dedup: bool = typer.Option(True, "--dedup/--no-dedup",
                               help="Score each distinct background once (default), or every haplotype on "
                                    "its own (for comparisons; same values)."),
    quiet: bool = QUIET,
    no_version: bool = NO_VERSION,
    ignore_contig_length: bool = IGNORE_CONTIG_LENGTH,
) -> None:
    """Score each variant in each sample's own haplotypes: the background is the haplotype's own alleles.

    For every target ALT and every haplotype of the selected samples, the ref and alt windows are built from
    that haplotype (its ALT alleles in the window applied, the target set to REF and to ALT) and scored as
    score-vcf scores them. Identical backgrounds are scored once. The output is the target records with
    FORMAT values per haplotype (ALT-major: a1h1,a1h2,a2h1,...) and INFO summaries over the haplotypes.

    Example: glrm score-haplotypes -i cohort.phased.vcf.gz -f ref.fa -m hyenadna-tiny-1k -o hap.vcf.gz
    """
    from glrm.pipeline.options import ScoreHaplotypesOptions, from_cli
    from glrm.pipeline.score_haplotypes import score_haplotypes as run

    run(from_cli(ScoreHaplotypesOptions, ctx.params, command_line=command_line(ctx)))
