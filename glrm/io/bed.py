"""The BED writer: one row per ALT allele, for small variants and SVs alike (docs/definitions.md, "Outputs").

Columns (`glrm.io.fields.bed_columns`): `chrom start end name score strand`, one column per score key, then
GLRM_STATUS. The first line is a header starting with `#`. `start`/`end` is the REF span, 0-based half-open;
`name` is the ID, or `chrom:pos:ref:alt` when the ID is missing; `score` repeats the main score
(`glrm.io.fields.main_score`) and `strand` is always `.`. Cells use the VCF formatting (`%.6g` floats, `.`
when undefined).

Every ALT gets a row, whatever its status: an allele that was not scored (REF_MISMATCH, TOO_LONG, ...) has `.`
in every score cell and its status in the last column. Rows are never dropped or reordered: they come out in
the order they are written, which is the input's order.

The file is atomic like the VCF (temporary file beside the target, renamed on success, removed on error or
Ctrl-C). A name ending in `.gz`/`.bgz` is written BGZF-compressed with a tabix index (`.tbi`, `preset=bed`;
`.csi` past 2^29), unless the rows are not sorted or indexing fails, in which case the complete file is kept
without an index, with a warning. `-` is
stdout (plain text).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence

from glrm.io.atomic import AtomicWriter, check_writable, close_quietly
from glrm.io.fields import GLRM_STATUS, InfoField, bed_columns, format_value, main_score
from glrm.variants import Allele

log = logging.getLogger(__name__)



class BedWriter(AtomicWriter):
    """Write glrm's per-allele BED; use as a context manager (commits on clean exit, cleans up on error)."""

    def __init__(self, out: str | os.PathLike, fields: Sequence[InfoField], *,
                 compress: bool | None = None) -> None:
        self.out = str(out)
        self.fields = list(fields)
        if GLRM_STATUS.id not in {f.id for f in self.fields}:
            raise ValueError("the BED needs GLRM_STATUS among its fields")
        self.columns = bed_columns(self.fields)
        self._by_id = {f.id: f for f in self.fields}
        self._main = self._by_id[main_score(self.fields)]
        self._stdout = self.out == "-"
        self.compress = (not self._stdout and self.out.lower().endswith((".gz", ".bgz"))
                         if compress is None else compress)
        if not self._stdout:
            check_writable(self.out)
        self.rows = 0
        self._buf: list[str] = []
        self._max_end = 0
        super().__init__()
        self._fh = None
        try:
            if self.compress:
                import pysam

                sys.stdout.flush()
                target = "-" if self._stdout else str(self._temp(self.out, ".bed.gz").path)
                self._fh = pysam.BGZFile(target, "wb", None)
            elif self._stdout:
                self._fh = sys.stdout.buffer
            else:
                self._fh = open(self._temp(self.out, ".bed").path, "wb")
            self._put("#" + "\t".join(self.columns))
        except BaseException:
            self._cleanup()
            raise

    def _put(self, line: str) -> None:
        self._buf.append(line + "\n")
        if len(self._buf) >= 1024:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._write("".join(self._buf).encode("utf-8", "surrogateescape"))
            self._buf.clear()

    def write_row(self, chrom: str, start: int, end: int, name: str, values: Mapping[str, object]) -> None:
        """One row; `values` maps each key to this allele's single value (missing key or None -> '.')."""
        if self._closed:
            raise ValueError("write_row() after the BED writer was closed")
        unknown = set(values) - set(self._by_id)
        if unknown:
            raise ValueError(f"values for keys not declared to the BED writer: {sorted(unknown)}")
        if values.get(GLRM_STATUS.id) is None:
            raise ValueError(f"{chrom}:{start + 1} {name}: every BED row needs its GLRM_STATUS")
        cells = {k: format_value(self._by_id[k], values.get(k)) for k in self.columns[6:]}
        row = [chrom, str(start), str(end), name, cells[self._main.id], ".",
               *(cells[k] for k in self.columns[6:])]
        self._track(chrom, start, end)
        self._put("\t".join(row))
        self.rows += 1

    def write_allele(self, allele: Allele, values: Mapping[str, object]) -> None:
        """One row for `allele`: its REF span, and its ID or chrom:pos:ref:alt as the name."""
        self.write_row(allele.chrom, allele.start, allele.end, allele.name, values)

    def _track(self, chrom: str, start: int, end: int) -> None:
        self._max_end = max(self._max_end, end)
        self._note_position(chrom, start)

    def _finish(self) -> None:
        """Index when compressed, and rename into place (data first, then index)."""
        if not self._stdout:
            self._commit()

    def _commit(self) -> None:
        data = self._temps[0]
        kind = index = None
        if self.compress:
            import pysam

            kind = self._index_kind(self._max_end, "rows (in the input VCF's order)",
                                    "sort the input VCF (bcftools sort) to get an indexed BED")

            def build(path: str, index_path: str) -> None:
                pysam.tabix_index(path, preset="bed", index=index_path, csi=kind == "csi", force=True)

            index, kind = self._index_or_warn(data, kind, build, (OSError, ValueError),
                                              "index it with tabix -p bed")
        self._commit_with_index(data, index, kind)

    def _cleanup(self) -> None:
        if self._fh is not None and self._fh is not sys.stdout.buffer:
            close_quietly(self._fh, [t.path for t in self._temps])   # its file is deleted anyway
        for t in self._temps:
            t.discard()
