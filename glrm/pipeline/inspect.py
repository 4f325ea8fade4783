"""`glrm windows`: write the ref/alt windows glrm would score, one TSV row per window, without a model.

Columns: chrom pos id ref alt status bp ref_window alt_window. One row per ALT allele; an SV in breakpoint
mode gets one row per breakpoint (bp 1, 2). bp is 0 for small variants and fits-mode SVs, 1 for BND.
Rows whose status is not OK show `.` for both windows. Without `sv` the score-vcf rules apply, with it
the score-sv rules (docs/definitions.md, "Small-variant windows" and "Structural variants"). Windows are built
from the left-aligned, trimmed allele ("One haplotype, one form"); the pos/ref/alt columns are as written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TextIO

from glrm.errors import InputError, OutputError
from glrm.io.atomic import atomic_path, check_not_input
from glrm.io.fasta import Fasta
from glrm.io.vcf import VcfReader
from glrm.windows import allele_windows, check_window

COLUMNS = ("chrom", "pos", "id", "ref", "alt", "status", "bp", "ref_window", "alt_window")


def check_options(window: int, max_n_frac: float, max_sv_len: int) -> None:
    check_window(window)
    if not 0.0 <= max_n_frac <= 1.0:
        raise InputError(f"--max-n-frac {max_n_frac:g} is not a fraction; give a value from 0 to 1")
    if max_sv_len < 1:
        raise InputError(f"--max-sv-len {max_sv_len} must be at least 1")


def window_rows(reader: VcfReader, fasta: Fasta, window: int, sv: bool = False, max_n_frac: float = 0.05,
                max_sv_len: int = 10_000_000) -> Iterator[tuple[str, ...]]:
    """The TSV rows (without the header) for every record of `reader`, in input order."""
    for rec in reader:
        for allele in rec.alleles:
            for w in allele_windows(fasta, allele, window, sv, max_n_frac, max_sv_len):
                yield (rec.chrom, str(rec.pos), rec.id, rec.ref, allele.alt, w.status.value, str(w.bp),
                       w.ref or ".", w.alt or ".")


def _write(rows: Iterator[tuple[str, ...]], out: TextIO) -> int:
    out.write("\t".join(COLUMNS) + "\n")
    n = 0
    for row in rows:
        out.write("\t".join(row) + "\n")
        n += 1
    return n


def write_windows(vcf: str, fasta: str, output: str | None, window: int, sv: bool = False,
                  regions: str | None = None, regions_file: str | None = None, max_n_frac: float = 0.05,
                  max_sv_len: int = 10_000_000, ignore_contig_length: bool = False) -> int:
    """Write the windows TSV to `output` (a file, written atomically) or stdout (`None` or '-').

    The VCF's ##contig lengths are checked against the FASTA first (with `ignore_contig_length`, a
    difference is a warning, not an error). Returns the number of rows written.
    """
    check_options(window, max_n_frac, max_sv_len)
    check_not_input(output, vcf, fasta, regions_file)
    to_stdout = output in (None, "-")
    with Fasta(fasta) as fa, VcfReader(vcf, regions=regions, regions_file=regions_file) as reader:
        fa.check_contigs(reader.contigs, vcf, ignore_length=ignore_contig_length)
        rows = window_rows(reader, fa, window, sv, max_n_frac, max_sv_len)
        if to_stdout:
            try:
                return _write(rows, sys.stdout)
            except BrokenPipeError:     # `glrm windows ... | head`: the reader has all it wants
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
        assert output is not None
        with atomic_path(output, suffix=".tsv") as tmp:
            try:
                with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                    return _write(rows, fh)
            except OSError as exc:
                raise OutputError(f"{output}: cannot write ({exc.strerror}); free space or choose "
                                  "another path") from None
