"""`glrm windows`: print the ref/alt windows glrm would score (TSV), to inspect them without a model.

Thin: the work is in `glrm.pipeline.windows_tsv`, imported inside the command so `glrm --help` stays instant.
"""

from __future__ import annotations

import typer

from glrm.cli._options import IGNORE_CONTIG_LENGTH, REGIONS, REGIONS_FILE
from glrm.defaults import DEFAULT_MAX_N_FRAC, DEFAULT_MAX_SV_LEN


def windows(
    ctx: typer.Context,
    input: str = typer.Option(..., "--input", "-i", metavar="VCF",
                              help="VCF/BCF (plain or bgzipped; '-' = stdin)."),
    fasta: str = typer.Option(..., "--fasta", "-f", metavar="FASTA", help="Reference FASTA (plain or BGZF)."),
    window: int = typer.Option(..., "--window", "-w", metavar="W", help="Window length in bases."),
    output: str = typer.Option("-", "--output", "-o", metavar="TSV", help="Output TSV; '-' = stdout."),
    sv: bool = typer.Option(False, "--sv", help="Use score-sv's rules (SV edits, breakpoints, BND)."),
    regions: str = REGIONS,
    regions_file: str = REGIONS_FILE,
    max_n_frac: float = typer.Option(DEFAULT_MAX_N_FRAC, "--max-n-frac", metavar="F",
                                     help="N_CONTENT above this fraction of N in a ref window."),
    max_sv_len: int = typer.Option(DEFAULT_MAX_SV_LEN, "--max-sv-len", metavar="N",
                                   help="TOO_LONG for SV edits longer than this (bp)."),
    ignore_contig_length: bool = IGNORE_CONTIG_LENGTH,
) -> None:
    """Write each ALT allele's ref/alt windows as a TSV, to inspect them without a model.

    Columns: chrom pos id ref alt status bp ref_window alt_window.

    Default: score-vcf's rules (symbolic and breakend alleles get UNSUPPORTED_ALLELE).

    --sv: score-sv's rules; an SV too large for the window gets one row per breakpoint (bp 1, 2).

    Rows that would not be scored show their status and '.' windows.
    """
    from glrm.pipeline.options import WindowsOptions, from_cli
    from glrm.pipeline.windows_tsv import write_windows_tsv

    write_windows_tsv(from_cli(WindowsOptions, ctx.params))
