"""Reference genome access: an indexed FASTA (plain or BGZF) read through pysam/htslib.

`Fasta.fetch` returns the reference as docs/definitions.md defines `G[a:b]`: 0-based half-open, positions
outside the contig read as 'N', upper-cased, and every code other than A/C/G/T (IUPAC codes, '-', ...) reads
as 'N'.
`Fasta.resolve` reconciles contig names between a VCF and the FASTA ('chr20' <-> '20', 'chrM' <-> 'MT' <->
'chrMT'), but only when exactly one FASTA contig matches; otherwise the contig counts as unknown.

The `.fai` (and, for BGZF, `.gzi`) index is built beside the FASTA when missing, as `samtools faidx` would.
A plain-gzip FASTA cannot be indexed; the error says how to recompress it with `bgzip`.
"""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import pysam

from glrm.dna import normalize
from glrm.errors import InputError
from glrm.io.compression import gzip_kind

# bytes.translate table: a/c/g/t/A/C/G/T -> upper case, every other byte -> 'N'.
# Names that all mean the mitochondrial genome.
_MITO = ("chrM", "chrMT", "MT")

# The option that accepts ##contig lengths differing from the FASTA's (named in the error and the warning).
IGNORE_CONTIG_LENGTH_FLAG = "--ignore-contig-length"

log = logging.getLogger(__name__)


def contig_aliases(name: str) -> tuple[str, ...]:
    """Other spellings of `name` the FASTA may use: '20' <-> 'chr20'; 'chrM' <-> 'MT' <-> 'chrMT'."""
    if name in _MITO:
        return tuple(n for n in _MITO if n != name)
    if name.startswith("chr") and len(name) > 3:
        return (name[3:],)
    return ("chr" + name,)


class Fasta:
    """An indexed reference FASTA. Use as a context manager or call `close()`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._check_file()
        self._ensure_index()
        try:
            self._fa = pysam.FastaFile(str(self.path))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"{self.path}: cannot open the FASTA or its index ({exc}); "
                f"rebuild the index with `samtools faidx {self.path}`"
            ) from None
        self.contigs: dict[str, int] = dict(zip(self._fa.references, self._fa.lengths, strict=True))
        if not self.contigs:
            raise InputError(f"{self.path}: the FASTA holds no sequences; give a reference FASTA")
        self._resolved: dict[str, str | None] = {}

    # ---- opening -------------------------------------------------------------------------------------------
    def _check_file(self) -> None:
        p = self.path
        if not p.exists():
            raise InputError(f"{p}: FASTA file not found; check the --fasta path")
        if not p.is_file():
            raise InputError(f"{p}: is not a file; give the reference FASTA file")
        if p.stat().st_size == 0:
            raise InputError(f"{p}: FASTA file is empty; give the reference FASTA")
        with open(p, "rb") as fh:
            head = fh.read(64)
        kind = self._compression = gzip_kind(head)
        if kind == "gzip":
            base = str(p)[:-3] if str(p).endswith(".gz") else str(p)
            raise InputError(
                f"{p}: is plain gzip, which cannot be indexed for random access; recompress it with bgzip: "
                f"`zcat {p} | bgzip > {base}.bgz && samtools faidx {base}.bgz`, then use {base}.bgz"
            )
        if kind == "bgzf":
            try:
                with gzip.open(p, "rb") as fh:
                    head = fh.read(64)
            except (OSError, EOFError) as exc:
                raise InputError(f"{p}: corrupt or truncated BGZF file ({exc}); get a fresh copy") from None
            if not head:
                raise InputError(f"{p}: FASTA file is empty; give the reference FASTA")
        first = head.lstrip()[:1]
        if first != b">":
            raise InputError(
                f"{p}: is not a FASTA file (it does not start with a '>name' line); give the reference FASTA"
            )

    def _ensure_index(self) -> None:
        p = self.path
        needed = [Path(f"{p}.fai")]
        if self._compression == "bgzf":
            needed.append(Path(f"{p}.gzi"))
        if all(x.is_file() for x in needed):
            return
        missing = " and ".join(x.name for x in needed if not x.is_file())
        hint = f"run `samtools faidx {p}` where you can write, or copy the FASTA to a writable folder"
        if not os.access(p.parent, os.W_OK | os.X_OK):
            raise InputError(f"{p}: index {missing} is missing and the folder is not writable; {hint}")
        try:
            pysam.faidx(str(p))
        except (pysam.SamtoolsError, OSError) as exc:
            msg = " ".join(str(exc).split())
            raise InputError(f"{p}: cannot build the FASTA index {missing} ({msg}); {hint}") from None
        if not all(x.is_file() for x in needed):
            raise InputError(f"{p}: building the FASTA index {missing} failed; {hint}")

    # ---- contigs -----------------------------------------------------------------------------------------
    def resolve(self, chrom: str) -> str | None:
        """The FASTA's name for `chrom`: itself, else its one unambiguous alias, else None."""
        try:
            return self._resolved[chrom]
        except KeyError:
            pass
        if chrom in self.contigs:
            found: str | None = chrom
        else:
            hits = [a for a in contig_aliases(chrom) if a in self.contigs]
            found = hits[0] if len(hits) == 1 else None
        self._resolved[chrom] = found
        return found

    def _resolve_or_fail(self, chrom: str) -> str:
        name = self.resolve(chrom)
        if name is None:
            shown = ", ".join(list(self.contigs)[:5]) + (", ..." if len(self.contigs) > 5 else "")
            raise InputError(
                f"{self.path}: contig '{chrom}' is not in the FASTA (it has {shown}); "
                "use the reference the variants were called against"
            )
        return name

    def length(self, chrom: str) -> int:
        """Length of `chrom` (after name reconciliation); InputError when the FASTA lacks it."""
        return self.contigs[self._resolve_or_fail(chrom)]

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """`G[start:end]` of `chrom`: 0-based half-open, N outside the contig, upper-case ACGTN only."""
        if end < start:
            raise ValueError(f"fetch: end {end} < start {start}")
        name = self._resolve_or_fail(chrom)
        size = self.contigs[name]
        lo, hi = max(start, 0), min(end, size)
        core = normalize(self._fa.fetch(name, lo, hi)) if lo < hi else ""
        if lo == start and hi == end:
            return core
        left = min(max(0 - start, 0), end - start)
        right = end - start - left - len(core)
        return "N" * left + core + "N" * right

    def check_contigs(self, vcf_contigs: dict[str, int | None], vcf_path,
                      ignore_length: bool = False) -> None:
        """Fail when a VCF ##contig length differs from the FASTA's for a shared contig (wrong assembly).

        With `ignore_length` (--ignore-contig-length) the differences are accepted and logged as one warning
        line naming the contigs: the windows come from the FASTA either way, and an allele past the FASTA
        contig's end gets REF_MISMATCH (glrm.windows.base.past_end_note)."""
        diffs = []   # (name as shown, VCF length, FASTA length)
        for name, vcf_len in vcf_contigs.items():
            if vcf_len is None:
                continue
            fa_name = self.resolve(name)
            if fa_name is None or self.contigs[fa_name] == vcf_len:
                continue
            shown = name if fa_name == name else f"{name} (FASTA: {fa_name})"
            diffs.append((shown, vcf_len, self.contigs[fa_name]))
        if not diffs:
            return
        if not ignore_length:
            shown, vcf_len, fa_len = diffs[0]
            more = f" (and {len(diffs) - 1} more contigs)" if len(diffs) > 1 else ""
            raise InputError(
                f"{vcf_path}: ##contig {shown} has length {vcf_len:,} but {self.path} has {fa_len:,}{more} - "
                "wrong assembly? Use the FASTA the VCF was called against; if only the ##contig lengths are "
                f"wrong (SURVIVOR writes the simulated genome's), add {IGNORE_CONTIG_LENGTH_FLAG}"
            )
        named = ", ".join(f"{shown} ({vcf_len:,} in the VCF, {fa_len:,} in the FASTA)"
                          for shown, vcf_len, fa_len in diffs[:10])
        more = f" and {len(diffs) - 10} more" if len(diffs) > 10 else ""
        log.warning("%s: ##contig lengths differ from %s for %s%s; going on (%s): windows come from the "
                    "FASTA, and alleles past a FASTA contig's end get REF_MISMATCH",
                    vcf_path, self.path, named, more, IGNORE_CONTIG_LENGTH_FLAG)

    # ---- lifetime ----------------------------------------------------------------------------------------
    def close(self) -> None:
        self._fa.close()

    def __enter__(self) -> Fasta:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Fasta({str(self.path)!r}, {len(self.contigs)} contigs)"

