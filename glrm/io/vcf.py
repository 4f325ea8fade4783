"""VCF/BCF input: a streaming reader that keeps every record's text exactly as written.

How it reads
- Text VCF (plain, BGZF or plain gzip; a path, or '-' for stdin): glrm reads the raw lines itself,
  so `Record.raw` is the input line byte for byte (decoded as UTF-8 with 'surrogateescape'; encode
  it the same way to get the bytes back; a CR before the newline is dropped). The header is checked
  by htslib once (through cyvcf2), so a header bcftools rejects is rejected here too. Records are
  split in Python: htslib's record parser accepts almost anything in the fixed columns (QUAL 'abc',
  INFO 'AC=abc'), so parsing each line with it (`cyvcf2.Writer.variant_from_string`) would add ~40%
  to the reading time (3.2 on top of 8.2 us/record, 1000 Genomes chr22) and no checks. glrm checks
  what it uses instead (column count against the #CHROM line, CHROM/REF/ALT present, POS a whole
  number, SV INFO values numeric) and names the line.
- BCF (a path, or '-': stdin is first spooled to a temporary file): cyvcf2 iterates it; `raw` is
  htslib's text form of the record and `line` is None.
- Regions (`regions`: bcftools -r syntax; `regions_file`: BED) go through the index: tabix
  (`.tbi`/`.csi`) via pysam for BGZF text, `.csi` via cyvcf2 for BCF. Spans are merged per contig;
  records overlapping any span come once each, contigs in index order (text) or header order (BCF),
  positions in file order. Overlap is htslib's: a record covers POS..POS+len(REF)-1, or up to
  INFO/END when that is set. `line` is None here. A region contig the index lacks is matched to its
  one unambiguous alias ('chr20' <-> '20', as `Fasta.resolve` does), else it selects nothing.
- A plain-gzip VCF streams fine but cannot be indexed: region queries on it fail with the `bgzip` +
  `tabix` fix. A BGZF file without bgzip's end-of-file block is reported as truncated up front.
Nothing is held in memory beyond the current record.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from glrm.errors import InputError
from glrm.io.compression import BCF_MAGIC, gzip_kind, has_bgzf_eof, open_binary, sniff
from glrm.io.regions import Span, merge_spans, parse_regions, read_bed
from glrm.variants import Allele, info_subset, make_alleles

log = logging.getLogger(__name__)

FIXED_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
_CONTIG_ID = re.compile(r"(?:<|,)ID=([^,>]+)")
_CONTIG_LEN = re.compile(r"(?:<|,)length=(\d+)")
_DECODE_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, OSError)


@dataclass
class Record:
    """One VCF record, as read. `alleles` holds one classified Allele per ALT, in ALT order."""

    index: int  # 0-based position in the stream (after region filtering)
    line: int | None  # 1-based line number in the text file, when known
    chrom: str
    pos: int  # 1-based POS
    id: str
    ref: str
    alts: list[str]
    raw: str  # the record's line exactly as in the input (no newline); htslib's text for BCF
    alleles: list[Allele]


class _Rejoin(io.RawIOBase):
    """A readable stream of `head` followed by the rest of `rest` (to sniff stdin without losing bytes)."""

    def __init__(self, head: bytes, rest):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _parse_contigs(header_lines: list[str]) -> dict[str, int | None]:
    contigs: dict[str, int | None] = {}
    for line in header_lines:
        if line.startswith("##contig=<"):
            m = _CONTIG_ID.search(line)
            if m:
                n = _CONTIG_LEN.search(line)
                contigs[m.group(1)] = int(n.group(1)) if n else None
    return contigs


class VcfReader:
    """Stream the records of a VCF/BCF file (or '-' for stdin), optionally restricted to regions."""

    def __init__(self, path: str, regions: str | None = None, regions_file: str | None = None):
        self.path = str(path)
        self._stdin = self.path == "-"
        self._spans: list[Span] | None = None
        self._stream = None  # open binary line stream, positioned after the header (text input)
        self._first_line = 0  # line number of the #CHROM line
        self._iterated = False
        self._vcf = None  # cyvcf2.VCF for BCF
        self._spool: str | None = None
        if regions is not None and regions_file is not None:
            raise InputError("give either --regions or --regions-file, not both")
        if self._stdin and (regions is not None or regions_file is not None):
            raise InputError("region queries need an indexed file, not stdin; give the VCF's path")
        head, raw = self._open_raw()
        self.compression = gzip_kind(head)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if self.compression else raw
        try:
            magic = stream.peek(5)[:5] if hasattr(stream, "peek") else b""
        except _DECODE_ERRORS as exc:
            raw.close()
            raise InputError(f"{self.path}: corrupt compressed data ({exc}); get an intact copy") from None
        self.is_bcf = magic.startswith(BCF_MAGIC)
        if self.is_bcf:
            self._open_bcf(stream)
        else:
            self._stream = stream
            self._read_header()
        self.contigs: dict[str, int | None] = _parse_contigs(self.header_lines)
        if regions is not None:
            self._spans = self._region_spans(lambda known: parse_regions(regions, known))
        elif regions_file is not None:
            self._spans = self._region_spans(lambda known: read_bed(regions_file))

    # ---- opening --------------------------------------------------------------------------------
    def _open_raw(self):
        """(first bytes, binary stream from the start) of the file or stdin."""
        if self._stdin:
            src = sys.stdin.buffer
            head = src.read(64)
            if not head:
                raise InputError("stdin ('-'): no input; pipe a VCF into glrm or give its path")
            return head, io.BufferedReader(_Rejoin(head, src), buffer_size=1 << 16)
        p = Path(self.path)
        if not p.exists():
            raise InputError(f"{self.path}: VCF file not found; check the path")
        if not p.is_file():
            raise InputError(f"{self.path}: is not a file; give a VCF or BCF file")
        fh = open(p, "rb", buffering=1 << 16)
        head = fh.peek(64)[:64]
        if not head:
            fh.close()
            raise InputError(f"{self.path}: is empty; a VCF needs at least its header")
        if gzip_kind(head) == "bgzf" and not has_bgzf_eof(p):
            fh.close()
            raise InputError(
                f"{self.path}: the BGZF file has no end-of-file block, so it is truncated (an interrupted "
                "copy or download?); get the complete file (if it is complete, recompress it with bgzip)"
            )
        return head, fh

    def _open_bcf(self, stream) -> None:
        """Open BCF with cyvcf2; stdin is first copied, decompressed, to a temporary (uncompressed) BCF."""
        import cyvcf2

        target = self.path
        if self._stdin:
            fd, self._spool = tempfile.mkstemp(prefix="glrm-stdin-", suffix=".bcf")
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(stream, out, 1 << 20)
            except _DECODE_ERRORS as exc:
                raise InputError(f"stdin ('-'): corrupt or truncated BCF ({exc})") from None
            target = self._spool
        stream.close()
        self._bcf_target = target
        try:
            self._vcf = cyvcf2.VCF(target, lazy=True)
        except Exception as exc:  # cyvcf2 raises bare Exception
            raise InputError(f"{self.path}: htslib cannot read this BCF ({exc}); check the file") from None
        self.header_lines = self._vcf.raw_header.rstrip("\n").split("\n")
        self.samples = list(self._vcf.samples)

    def _read_header(self) -> None:
        lines: list[str] = []
        n = 0
        try:
            for n, b in enumerate(self._stream, 1):  # noqa: B007 (n is used after the loop)
                text = b.decode("utf-8", "surrogateescape").rstrip("\r\n")
                if not text and lines:
                    continue  # a blank line inside the header
                if not text.startswith("#"):
                    if not lines:
                        raise InputError(
                            f"{self.path}: not a VCF (it does not start with '##fileformat=VCF...' and a "
                            "'#CHROM' header line)"
                        )
                    raise InputError(
                        f"{self.path}: line {n}: found a record before the #CHROM header line; "
                        "add the #CHROM line (CHROM POS ID REF ALT QUAL FILTER INFO, tab-separated)"
                    )
                lines.append(text)
                if text.startswith("#CHROM"):
                    break
        except _DECODE_ERRORS as exc:
            raise InputError(f"{self.path}: corrupt or truncated compressed data in the header ({exc})") \
                from None
        if not lines or not lines[-1].startswith("#CHROM"):
            raise InputError(
                f"{self.path}: no '#CHROM' header line (the file ends after {n} header lines); "
                "not a VCF, or truncated"
            )
        self._first_line = n
        self.header_lines = lines
        self.samples = self._check_chrom_line(lines[-1], n)
        self._check_header_with_htslib()
        self._ncols = 8 if not self.samples else 9 + len(self.samples)

    def _check_chrom_line(self, line: str, n: int) -> list[str]:
        cols = line.split("\t")
        where = f"{self.path}: line {n}"
        if len(cols) < 8 and " " in line:
            raise InputError(f"{where}: the #CHROM line is space-separated; columns must be tab-separated")
        if cols[:8] != FIXED_COLUMNS:
            raise InputError(
                f"{where}: the #CHROM line must start with the 8 columns {' '.join(FIXED_COLUMNS)} "
                "(tab-separated); fix the header"
            )
        if len(cols) == 9:
            raise InputError(
                f"{where}: the #CHROM line names a FORMAT column but no sample column, which htslib rejects; "
                f"drop the FORMAT column and the records' FORMAT/sample fields (`cut -f1-8 {self.path}`), "
                "or add a sample name after FORMAT"
            )
        if len(cols) > 9 and cols[8] != "FORMAT":
            raise InputError(f"{where}: column 9 of the #CHROM line must be FORMAT, not {cols[8]!r}")
        return cols[9:]

    def _check_header_with_htslib(self) -> None:
        import cyvcf2

        try:
            w = cyvcf2.Writer.from_string(os.devnull, "\n".join(self.header_lines) + "\n")
        except Exception:  # cyvcf2 raises bare Exception; htslib prints the reason on stderr
            raise InputError(
                f"{self.path}: htslib cannot parse the VCF header (its message is above); fix the header"
            ) from None
        w.close()

    # ---- regions --------------------------------------------------------------------------------
    def _region_spans(self, make) -> list[Span]:
        if self.is_bcf:
            if not os.path.exists(self.path + ".csi"):
                raise InputError(
                    f"{self.path}: region queries need a .csi index; run `bcftools index {self.path}`"
                )
            return make(self._vcf.seqnames)
        if self.compression != "bgzf":
            base = self.path[:-3] if self.path.endswith(".gz") else self.path
            fix = (
                f"`zcat {self.path} > {base} && bgzip -f {base} && tabix -p vcf {base}.gz`"
                if self.compression == "gzip"
                else f"`bgzip {self.path} && tabix -p vcf {self.path}.gz`"
            )
            what = "plain gzip" if self.compression == "gzip" else "not compressed"
            raise InputError(
                f"{self.path}: region queries need a BGZF-compressed, indexed VCF but this file is {what}; "
                f"run {fix}, or drop --regions/--regions-file to read it whole"
            )
        if not any(os.path.exists(self.path + s) for s in (".tbi", ".csi")):
            raise InputError(
                f"{self.path}: region queries need an index (.tbi or .csi); "
                f"run `tabix -p vcf {self.path}` or `bcftools index -t {self.path}`"
            )
        import pysam

        try:
            with pysam.TabixFile(self.path, encoding="latin-1") as tbx:
                known = list(tbx.contigs)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot open the index ({exc}); rebuild it with tabix -p vcf") \
                from None
        self._index_contigs = known
        return make(known)

    def _region_lines(self) -> Iterator[tuple[str, object]]:
        """(text, cyvcf2 variant or None) of records overlapping the spans, each once, in file order."""
        from glrm.io.fasta import contig_aliases  # imports pysam; keep it out of module import

        order = list(self._vcf.seqnames) if self.is_bcf else self._index_contigs
        known = set(order)
        spans, missing = [], []
        for chrom, s, e in self._spans or []:
            if chrom not in known:  # 'chr20' for a file that says '20': use the one unambiguous alias
                hits = [a for a in contig_aliases(chrom) if a in known]
                if len(hits) != 1:
                    missing.append(chrom)
                    continue
                chrom = hits[0]
            spans.append((chrom, s, e))
        if missing:
            log.warning("%s: no records on %s (not in the index); those regions select nothing",
                        self.path, ", ".join(dict.fromkeys(missing)))
        merged = merge_spans(spans)
        if self.is_bcf:
            for chrom in (c for c in order if c in merged):
                prev_end = -1
                for s, e in merged[chrom]:
                    region = f"{chrom}:{s + 1}-{e}" if e is not None else f"{chrom}:{s + 1}"
                    for v in self._vcf(region):
                        if v.POS - 1 >= prev_end:  # else it overlapped the previous span: already returned
                            yield str(v).rstrip("\n"), v
                    prev_end = e if e is not None else sys.maxsize
            return
        import pysam

        with pysam.TabixFile(self.path, encoding="latin-1") as tbx:
            for chrom in (c for c in order if c in merged):
                prev_end = -1
                for s, e in merged[chrom]:
                    for text in tbx.fetch(chrom, s, e):
                        start = int(text.split("\t", 2)[1]) - 1
                        if start < prev_end:  # also overlapped the previous span: already returned
                            continue
                        if not text.isascii():
                            text = text.encode("latin-1").decode("utf-8", "surrogateescape")
                        yield text, None
                    prev_end = e if e is not None else sys.maxsize

    # ---- records --------------------------------------------------------------------------------
    def _bad(self, lineno: int | None, what: str) -> InputError:
        where = f"{self.path}: line {lineno}" if lineno is not None else f"{self.path}: record"
        return InputError(f"{where}: {what}")

    def _record(self, text: str, lineno: int | None, index: int, from_htslib: bool) -> Record:
        f = text.split("\t", 8)
        if len(f) < 8:
            raise self._bad(
                lineno,
                f"a record needs at least 8 tab-separated columns, this line has {len(f)}; "
                "fix or remove it (are the columns separated by spaces?)",
            )
        if not from_htslib:
            ncols = text.count("\t") + 1
            if ncols != self._ncols:
                raise self._bad(
                    lineno,
                    f"the record has {ncols} columns but the #CHROM line has {self._ncols}; "
                    "fix the line or the header",
                )
        chrom, pos_s, vid, ref, alt = f[0], f[1], f[2], f[3], f[4]
        if not chrom:
            raise self._bad(lineno, "CHROM is empty; fix or remove the line")
        if not (pos_s.isascii() and pos_s.isdigit()):
            raise self._bad(lineno, f"POS {pos_s!r} is not a whole number; fix or remove the line")
        if not ref:
            raise self._bad(lineno, "REF is empty; fix or remove the line")
        if not alt:
            raise self._bad(lineno, "ALT is empty (use '.' for none); fix or remove the line")
        pos = int(pos_s)
        alts = alt.split(",")
        try:
            alleles = make_alleles(chrom, pos, vid, ref, alts, info_subset(f[7]), index)
        except ValueError as exc:
            raise self._bad(lineno, f"{exc}; fix the INFO column") from None
        return Record(index, lineno, chrom, pos, vid, ref, alts, text, alleles)

    def _text_lines(self) -> Iterator[tuple[str, int]]:
        if self._iterated or self._stream is None:
            if self._stdin:
                raise RuntimeError("a VcfReader on stdin can be iterated only once")
            head, raw = self._open_raw()
            self._stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzip_kind(head) else raw
            for _ in range(self._first_line):
                self._stream.readline()
        self._iterated = True
        stream, n = self._stream, self._first_line
        try:
            for b in stream:
                n += 1
                text = b.decode("utf-8", "surrogateescape").rstrip("\r\n")
                if text:  # blank lines are not records
                    yield text, n
        except _DECODE_ERRORS as exc:
            raise InputError(
                f"{self.path}: after line {n}: the compressed data is corrupt or truncated ({exc}); "
                "get an intact copy of the file"
            ) from None
        finally:
            stream.close()
            self._stream = None

    def __iter__(self) -> Iterator[Record]:
        index = 0
        if self._spans is not None:
            for text, v in self._region_lines():
                yield self._record(text, None, index, from_htslib=v is not None)
                index += 1
        elif self.is_bcf:
            if self._iterated:  # a second pass needs a fresh htslib iterator
                import cyvcf2

                self._vcf.close()
                self._vcf = cyvcf2.VCF(self._bcf_target, lazy=True)
            self._iterated = True
            try:
                for v in self._vcf:
                    yield self._record(str(v).rstrip("\n"), None, index, from_htslib=True)
                    index += 1
            except InputError:
                raise
            except Exception as exc:
                raise InputError(f"{self.path}: htslib cannot read this BCF after record {index} ({exc})") \
                    from None
        else:
            for text, n in self._text_lines():
                if text.startswith("#"):
                    raise self._bad(n, "a header line ('#...') after the #CHROM line; fix the file")
                yield self._record(text, n, index, from_htslib=False)
                index += 1

    # ---- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._vcf is not None:
            self._vcf.close()
            self._vcf = None
        if self._spool is not None:
            Path(self._spool).unlink(missing_ok=True)
            self._spool = None

    def __enter__(self) -> VcfReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VcfReader({self.path!r}, {'BCF' if self.is_bcf else 'VCF'}, {len(self.samples)} samples)"


def count_records(path: str, regions: str | None = None, regions_file: str | None = None) -> int:
    """The number of records `VcfReader(path, regions, regions_file)` yields, for a file (not stdin): the
    progress bar's total and `--shard`'s split both come from here.

    A text VCF without regions is counted from its bytes (lines that are neither blank nor '#', as the reader
    reads them), with no parsing; BCF and region queries take one pass of a reader. Damage the byte pass
    meets is left to the reader, whose error names the line."""
    if regions is None and regions_file is None:
        _, is_bcf = sniff(path)
        if not is_bcf:
            n = 0
            try:
                with open_binary(path) as fh:
                    for line in fh:
                        text = line.rstrip(b"\r\n")
                        n += bool(text) and not text.startswith(b"#")
                return n
            except (OSError, EOFError, zlib.error):
                pass
    with VcfReader(path, regions=regions, regions_file=regions_file) as reader:
        return sum(1 for _ in reader)
