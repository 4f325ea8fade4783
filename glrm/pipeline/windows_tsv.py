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

from glrm.errors import OutputError
from glrm.io.atomic import atomic_path, check_not_input
from glrm.io.fasta import Fasta
from glrm.io.vcf import VcfReader
from glrm.pipeline.options import WindowsOptions
from glrm.windows import allele_windows

COLUMNS = ("chrom", "pos", "id", "ref", "alt", "status", "bp", "ref_window", "alt_window")


def tsv_rows(reader: VcfReader, fasta: Fasta, opts: WindowsOptions) -> Iterator[tuple[str, ...]]:
    """The TSV rows (without the header) for every record of `reader`, in input order."""
    for rec in reader:
        for allele in rec.alleles:
            for w in allele_windows(fasta, allele, opts.window, opts.sv, opts.max_n_frac, opts.max_sv_len):
                yield (rec.chrom, str(rec.pos), rec.id, rec.ref, allele.alt, w.status.value, str(w.bp),
                       w.ref or ".", w.alt or ".")


def _write(rows: Iterator[tuple[str, ...]], out: TextIO) -> int:
    out.write("\t".join(COLUMNS) + "\n")
    n = 0
    for row in rows:
        out.write("\t".join(row) + "\n")
        n += 1
    return n


def write_windows_tsv(opts: WindowsOptions) -> int:
    """Write the windows TSV to `opts.output` (a file, written atomically) or stdout ('-').

    The VCF's ##contig lengths are checked against the FASTA first (with `ignore_contig_length`, a
    difference is a warning, not an error). Returns the number of rows written.
    """
    opts.validate()
    output = opts.output
    check_not_input(output, opts.input, opts.fasta, opts.regions_file)
    with Fasta(opts.fasta) as fa, \
            VcfReader(opts.input, regions=opts.regions, regions_file=opts.regions_file) as reader:
        fa.check_contigs(reader.contigs, opts.input, ignore_length=opts.ignore_contig_length)
        rows = tsv_rows(reader, fa, opts)
        if output == "-":
            try:
                return _write(rows, sys.stdout)
            except BrokenPipeError:     # `glrm windows ... | head`: the reader has all it wants
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
        with atomic_path(output, suffix=".tsv") as tmp:
            try:
                with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                    return _write(rows, fh)
            except OSError as exc:
                raise OutputError(f"{output}: cannot write ({exc.strerror}); free space or choose "
                                  "another path") from None
