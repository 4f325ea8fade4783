"""`glrm score-vcf`: score the small variants of a VCF with a DNA language model (options as bcftools).

Thin: the work is in `glrm.pipeline.score_vcf`, imported inside the command so `glrm --help` stays instant.
"""

from __future__ import annotations

import typer

from glrm.cli._options import (
    DEVICE,
    IGNORE_CONTIG_LENGTH,
    NO_VERSION,
    PRECISION,
    QUIET,
    REGIONS,
    REGIONS_FILE,
    RESUME,
    SHARD,
    command_line,
)
from glrm.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EMB_FLANK,
    DEFAULT_MAX_N_FRAC,
    DEFAULT_RC,
    DEFAULT_REF_MISMATCH,
    DEFAULT_SCORES,
    RC_MODES,
    REF_MISMATCH_MODES,
)


def score_vcf(
    ctx: typer.Context,
    input: str = typer.Option(..., "--input", "-i", metavar="VCF",
                              help="Input VCF/BCF (plain, bgzipped or BCF; '-' = stdin)."),
    fasta: str = typer.Option(..., "--fasta", "-f", metavar="FASTA",
                              help="Reference FASTA the VCF was called against (plain or BGZF, indexed or "
                                   "indexable)."),
    model: str = typer.Option(..., "--model", "-m", metavar="MODEL",
                              help="Checkpoint folder, or a known model name in the local cache "
                                   "(glrm models list)."),
    output: str = typer.Option("-", "--output", "-o", metavar="OUT",
                               help="Output VCF; '-' = stdout. A name ending in .gz is bgzipped and "
                                    "tabix-indexed, .bcf is BCF."),
    bed: str = typer.Option(None, "--bed", metavar="OUT.bed",
                            help="Also write one BED row per ALT allele (.gz: bgzipped + indexed; "
                                 "'-' = stdout)."),
    output_type: str = typer.Option(None, "--output-type", "-O", metavar="v|z|b|u",
                                    help="v VCF, z bgzipped VCF (+ .tbi), b BCF (+ .csi), u uncompressed "
                                         "BCF. Default: from the output name."),
    window: int = typer.Option(None, "--window", "-w", metavar="W",
                               help="Window length in bases. Default: the model's trained context "
                                    "(HyenaDNA max_seq_len - 2; Caduceus/Mamba max_length)."),
    rc: str = typer.Option(DEFAULT_RC, "--rc", metavar="|".join(RC_MODES),
                           help="mean: also score the reverse-complement strand and average the two "
                                "(one pass for RC-equivariant checkpoints)."),
    emb_flank: int = typer.Option(DEFAULT_EMB_FLANK, "--emb-flank", metavar="K",
                                  help="GLRM_EMB averages embeddings over the variant +- K bases."),
    scores: str = typer.Option(",".join(DEFAULT_SCORES), "--scores", metavar="LIST",
                               help="Scores to compute and write: glrm's llr,cllr,mlr,emb and the published "
                                    "recipes evo2,gpn_llr,gpn_cos,gpn_euc (docs/scores.md). GLRM_STATUS is "
                                    "always written."),
    device: str = DEVICE,
    precision: str = PRECISION,
    batch_size: str = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", metavar="auto|N",
                                   help="Windows per forward pass; auto = from free memory and W."),
    chunk_size: str = typer.Option(None, "--chunk-size", metavar="N|auto",
                                   help="Run each window through the model N tokens at a time (less "
                                        "memory for long windows; same scores); auto = from free memory. "
                                        "Default: each window in one pass."),
    ref_mismatch: str = typer.Option(DEFAULT_REF_MISMATCH, "--ref-mismatch",
                                     metavar="|".join(REF_MISMATCH_MODES),
                                     help="REF differs from the FASTA: status = mark the ALT REF_MISMATCH "
                                          "and go on; error = stop with an error."),
    max_n_frac: float = typer.Option(DEFAULT_MAX_N_FRAC, "--max-n-frac", metavar="F",
                                     help="N_CONTENT (not scored) when more than this fraction of the ref "
                                          "window is N (contig-end padding included)."),
    regions: str = REGIONS,
    regions_file: str = REGIONS_FILE,
    threads: int = typer.Option(None, "--threads", metavar="N",
                                help="CPU threads for torch (intra- and inter-op). Default: the CPUs this "
                                "process may use (affinity, SLURM_CPUS_PER_TASK, cgroup quota)."),
    quiet: bool = QUIET,
    no_version: bool = NO_VERSION,
    shard: str = SHARD,
    resume: bool = RESUME,
    tile: bool = typer.Option(False, "--tile",
                              help="Tile mode: windows are tiles of W with stride W/2 (each variant at least "
                                   "W/4 from a tile edge) and one ref pass per tile scores all its variants; "
                                   "fastest for dense SNVs with --scores mlr (docs/performance.md)."),
    ignore_contig_length: bool = IGNORE_CONTIG_LENGTH,
) -> None:
    """Score every ALT allele of a VCF with a DNA language model; write the VCF with GLRM_* INFO keys.

    Records are written in input order and otherwise unchanged. Each ALT gets GLRM_STATUS, and
    GLRM_LLR and GLRM_CLLR (causal models), GLRM_MLR (SNV/MNV) and GLRM_EMB where defined ('.' otherwise).
    Alleles are left-aligned and trimmed against the FASTA before scoring (the record stays as written).

    Symbolic and breakend alleles get UNSUPPORTED_ALLELE: score them with score-sv.

    Example: glrm score-vcf -i calls.vcf.gz -f ref.fa -m hyenadna-tiny-1k -o scored.vcf.gz --bed scored.bed
    """
    from glrm.pipeline.options import ScoreVcfOptions, from_cli
    from glrm.pipeline.score_vcf import score_vcf as run

    run(from_cli(ScoreVcfOptions, ctx.params, command_line=command_line(ctx)))
