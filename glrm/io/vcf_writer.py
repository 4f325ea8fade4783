"""The VCF annotator: the input VCF, byte for byte, with glrm's INFO keys spliced in (docs/definitions.md,
"Outputs").

It takes raw text: the input's header lines and each record's line (as `glrm.io.vcf` reads them, without
newlines), so nothing is parsed and re-printed except the INFO column.

Contract of `VcfAnnotator.write(raw, values)`: `values` maps an INFO key (one of the `infos` given to the
annotator) to a sequence with one value per ALT of the record (`Number=A`), or to None. A missing key, None,
or a None/NaN element writes '.' there, so every record carries every key and every ALT its own slot
(`GLRM_STATUS=OK,.`). The ALT count is the number of comma-separated entries in column 5, so `ALT=.` counts
as one allele (glrm gives it a status). Floats are written as `%.6g` (see `glrm.io.fields.format_value`).

FORMAT keys (`InfoField(kind="FORMAT")` among the fields; score-haplotypes, docs/score-haplotypes.md) go
into the sample columns: `write(raw, values, samples)` with `samples` mapping a FORMAT key to one list of
values per sample column (`annotate_samples`: spliced like INFO, every other byte unchanged).

Header: the `##INFO` line of each key is added right before `#CHROM`, or replaces an existing line with the
same ID in place (re-scoring a glrm output); then `##glrmVersion`, `##glrmCommand` (both left out with
`version_line=False`, like bcftools' --no-version; earlier runs' lines are kept as history) and
`##glrm_model=<...>` (which replaces any earlier one: it describes the values now in the file).

Output types follow bcftools' -O: `v` VCF text, `z` BGZF VCF with a tabix index (`.tbi`, or `.csi` when a
position exceeds 2^29), `b` BCF with a `.csi` index, `u` uncompressed BCF (no index). `None` infers from the
name: `.vcf.gz`/`.vcf.bgz`/`.gz` -> z, `.bcf` -> b, anything else -> v. BCF is made by the
bcftools that ships inside pysam (`bcftools view -Ob/-Ou`), so records are only re-encoded, never edited.
`-` is stdout (not atomic, no index).
BCF needs every contig, FILTER, INFO and FORMAT key declared; ones the input leaves undeclared get a
declaration line in the BCF header (with a warning), as htslib does when reading such a VCF.

Files are atomic: everything goes to temporary files beside the target and is renamed into place (data
first, then its index) only when the `with` block ends cleanly. An exception or Ctrl-C removes the temporary
files and leaves any existing target untouched. An unsorted input gets its data file but no index (tabix
cannot index it), with a warning; so does a file whose indexing fails (e.g. records past a `##contig` length,
which CSI refuses): the scores are never thrown away for an index. A stale index of the target is removed.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from glrm import __version__
from glrm.errors import OutputError
from glrm.io.atomic import (
    AtomicWriter,
    TempOutput,
    check_writable,
    close_quietly,
    write_error,
    write_failure,
)
from glrm.io.fields import InfoField, format_value

log = logging.getLogger(__name__)

OUT_TYPES = ("v", "z", "b", "u")
_ID_RE = re.compile(r"[<,]ID=([^,>]+)")
_LENGTH_RE = re.compile(r"[<,]length=(\d+)")
_META_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_NEEDS_QUOTES = re.compile(r'[\s,<>="\\]')
_FLUSH_BYTES = 1 << 16
_OLD_FORMAT = re.compile(r"^##fileformat=VCFv(4\.0|3\.\d+)\s*$")   # before Number=A (VCF 4.1)
FILEFORMAT = "##fileformat=VCFv4.2"


def infer_out_type(path: str | os.PathLike) -> str:
    """bcftools-style output type from a file name: z for .gz/.bgz, b for .bcf, else v."""
    name = str(path).lower()
    if name.endswith((".gz", ".bgz")):
        return "z"
    if name.endswith(".bcf"):
        return "b"
    return "v"


def check_output(path: str | os.PathLike, out_type: str | None = None) -> str:
    """Validate the output early (before loading a model); return the resolved output type."""
    kind = out_type or ("v" if str(path) == "-" else infer_out_type(path))
    if kind not in OUT_TYPES:
        raise OutputError(f"{path}: unknown output type {kind!r}; use one of v (VCF), z (bgzipped VCF), "
                          "b (BCF), u (uncompressed BCF)")
    if str(path) != "-":
        check_writable(path)
    return kind


def header_id(line: str) -> str | None:
    """The ID of a structured header line such as `##INFO=<ID=DP,...>`, else None."""
    m = _ID_RE.search(line)
    return m.group(1) if m and line.startswith("##") and "=<" in line else None


def _meta_value(value: object) -> str:
    text = str(value).replace("\r", " ").replace("\n", " ")
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def model_line(meta: Mapping[str, object]) -> str:
    """`##glrm_model=<ID=...,Checkpoint=...,...>` in the given key order, values quoted where needed."""
    parts = []
    for key, value in meta.items():
        if not _META_KEY_RE.match(key):
            raise ValueError(f"model_meta key {key!r} is not a valid header key")
        parts.append(f"{key}={_meta_value(value)}")
    return "##glrm_model=<" + ",".join(parts) + ">"


def default_command() -> str:
    """This process's command line, program name first, for `##glrmCommand`."""
    argv = sys.argv or ["glrm"]
    return shlex.join([Path(argv[0]).name, *argv[1:]])


def build_header(header_lines: Sequence[str], infos: Sequence[InfoField], *, version_line: bool = True,
                 command: str | None = None, model_meta: Mapping[str, object] | None = None) -> list[str]:
    """The output header lines (no newlines): the input's, with glrm's lines added before `#CHROM`.

    `Number=A` (one value per ALT) came with VCF 4.1: an input declared as VCFv4.0 or VCFv3.x that gains such
    a key is written as `##fileformat=VCFv4.2`, so that validators accept the output."""
    if not header_lines or not header_lines[-1].startswith("#CHROM"):
        raise ValueError("header_lines must end with the #CHROM line")
    wanted = {(f.kind, f.id): f for f in infos}
    placed: set[tuple[str, str]] = set()
    out: list[str] = []
    bump = any(f.number == "A" for f in infos)
    for line in header_lines[:-1]:
        kind = "INFO" if line.startswith("##INFO=") else "FORMAT" if line.startswith("##FORMAT=") else ""
        if bump and _OLD_FORMAT.match(line):
            log.info("%s declares no Number=A; the output is written as VCFv4.2", line.strip())
            out.append(FILEFORMAT + ("\r" if line.endswith("\r") else ""))
        elif kind and (kind, header_id(line)) in wanted:
            key = (kind, header_id(line))
            if key not in placed:  # a second definition of the same key is dropped: one key, one line
                out.append(wanted[key].header_line())
                placed.add(key)
        elif line.startswith("##glrm_model="):
            continue
        else:
            out.append(line)
    out.extend(f.header_line() for f in infos if (f.kind, f.id) not in placed)
    if version_line:
        cmd = (command if command is not None else default_command()).replace("\r", " ").replace("\n", " ")
        date = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime())
        out.append(f"##glrmVersion={__version__}")
        out.append(f"##glrmCommand={cmd}; Date={date} UTC")
    if model_meta:
        out.append(model_line(model_meta))
    out.append(header_lines[-1])
    return out


def annotate_line(raw: str, infos: Sequence[InfoField],
                  values: Mapping[str, Sequence[object] | None]) -> str:
    """`raw` with the keys of `infos` set in its INFO column; every other byte unchanged."""
    cr = raw.endswith("\r")
    cols = (raw[:-1] if cr else raw).split("\t")
    if len(cols) < 8:
        raise ValueError(f"VCF record has {len(cols)} columns, needs at least 8: {raw[:80]!r}")
    unknown = set(values) - {f.id for f in infos}
    if unknown:
        raise ValueError(f"values for keys not declared to the writer: {sorted(unknown)}")
    n_alt = cols[4].count(",") + 1
    entries = [] if cols[7] in (".", "") else cols[7].split(";")
    where = {}
    for i, entry in enumerate(entries):
        where.setdefault(entry.split("=", 1)[0], i)
    trailing = len(entries)
    while trailing and entries[trailing - 1] == "":  # keep a stray trailing ';' where it was
        trailing -= 1
    added = []
    for field in infos:
        per_alt = values.get(field.id)
        if per_alt is None:
            per_alt = [None] * n_alt
        elif isinstance(per_alt, (str, bytes)) or len(per_alt) != n_alt:
            raise ValueError(f"{field.id}: need a sequence of {n_alt} values (one per ALT) for "
                             f"{cols[0]}:{cols[1]}, got {per_alt!r}")
        entry = f"{field.id}=" + ",".join(format_value(field, v) for v in per_alt)
        if field.id in where:
            entries[where[field.id]] = entry
        else:
            added.append(entry)
    entries[trailing:trailing] = added
    cols[7] = ";".join(entries)
    return "\t".join(cols) + ("\r" if cr else "")


def annotate_samples(raw: str, formats: Sequence[InfoField], n_samples: int,
                     values: Mapping[str, Sequence[Sequence[object] | None] | None]) -> str:
    """`raw` with the FORMAT keys of `formats` set in each of its `n_samples` sample columns: `values` maps a
    key to one entry per sample, a sequence of values (Number=.) or None ('.'); a missing key writes '.'.
    Existing keys are replaced in place, new ones appended to FORMAT; a sample field that dropped trailing
    keys (VCF allows it) gets '.' for them so the new keys line up. A record without FORMAT and sample
    columns (a sites-only line) gains them. Every other byte is unchanged."""
    cr = raw.endswith("\r")
    cols = (raw[:-1] if cr else raw).split("\t")
    if len(cols) == 8:
        cols += ["."] + ["."] * n_samples
    if len(cols) != 9 + n_samples:
        raise ValueError(f"VCF record has {len(cols) - 9} sample columns, the header {n_samples}: "
                         f"{raw[:80]!r}")
    keys = [] if cols[8] in ("", ".") else cols[8].split(":")
    where = {k: i for i, k in enumerate(keys)}
    for f in formats:
        if f.id not in where:
            where[f.id] = len(keys)
            keys.append(f.id)
    for j in range(n_samples):
        parts = cols[9 + j].split(":")
        if len(parts) < len(keys):
            parts += ["."] * (len(keys) - len(parts))
        for f in formats:
            per = values.get(f.id)
            v = per[j] if per is not None else None
            parts[where[f.id]] = "." if not v else ",".join(format_value(f, x) for x in v)
        cols[9 + j] = ":".join(parts)
    cols[8] = ":".join(keys)
    return "\t".join(cols) + ("\r" if cr else "")


class _Declared:
    """Tracks what records use but the header does not declare (needed only for BCF)."""

    def __init__(self, header: Sequence[str]) -> None:
        self.known: dict[str, set[str]] = {
            "contig": set(), "FILTER": {"PASS"}, "INFO": set(), "FORMAT": set(),
        }
        for line in header:
            kind = line[2:line.find("=")] if line.startswith("##") and "=<" in line else ""
            if kind in self.known:
                self.known[kind].add(header_id(line) or "")
        self.extra: list[str] = []

    def _need(self, kind: str, key: str, line: str) -> None:
        if key not in self.known[kind]:
            self.known[kind].add(key)
            self.extra.append(line)

    def scan(self, cols: list[str]) -> None:
        note = 'Description="Not declared in the input header; declared by glrm for BCF output"'
        self._need("contig", cols[0], f"##contig=<ID={cols[0]}>")
        for f in [] if cols[6] in (".", "") else cols[6].split(";"):
            self._need("FILTER", f, f"##FILTER=<ID={f},{note}>")
        for entry in [] if cols[7] in (".", "") else cols[7].split(";"):
            key, eq, _ = entry.partition("=")
            if key:
                kind = "Number=.,Type=String" if eq else "Number=0,Type=Flag"
                self._need("INFO", key, f"##INFO=<ID={key},{kind},{note}>")
        for key in cols[8].split(":") if len(cols) > 8 and cols[8] not in (".", "") else []:
            kind = "Number=1,Type=String" if key == "GT" else "Number=.,Type=String"
            self._need("FORMAT", key, f"##FORMAT=<ID={key},{kind},{note}>")


class VcfAnnotator(AtomicWriter):
    """Write an annotated VCF/BCF; use as a context manager (commits on clean exit, cleans up on error)."""

    def __init__(self, out: str | os.PathLike, header_lines: Sequence[str], infos: Sequence[InfoField], *,
                 out_type: str | None = None, version_line: bool = True, command: str | None = None,
                 model_meta: Mapping[str, object] | None = None,
                 header_as_is: Sequence[str] | None = None) -> None:
        self.out = str(out)
        self.out_type = check_output(self.out, out_type)
        self.infos = [f for f in infos if f.kind == "INFO"]
        self.formats = [f for f in infos if f.kind == "FORMAT"]   # FORMAT keys: write(..., samples=...)
        self.header = build_header(header_lines, list(infos), version_line=version_line, command=command,
                                   model_meta=model_meta)
        self.n_samples = max(0, len(self.header[-1].split("\t")) - 9)
        self.records = 0
        self._stdout = self.out == "-"
        self._bcf = self.out_type in ("b", "u")
        self._max_pos = max((int(m.group(1)) for line in self.header if line.startswith("##contig=")
                             for m in [_LENGTH_RE.search(line)] if m), default=0)
        if header_as_is is not None:  # see copy_of(); the ##contig lengths of this header are not read
            self.header = list(header_as_is)
        self._declared = _Declared(self.header) if self._bcf else None
        self._buf: list[bytes] = []
        self._buf_bytes = 0
        self._scratch: list[Path] = []
        super().__init__()
        self._open()

    @classmethod
    def copy_of(cls, out: str | os.PathLike, header: Sequence[str], *,
                out_type: str | None = None) -> VcfAnnotator:
        """A writer whose header is `header` exactly (no glrm lines added), for `write_raw` records."""
        return cls(out, header[-1:], [], out_type=out_type, version_line=False, header_as_is=header)

    # ---- opening -------------------------------------------------------------------------------
    def _scratch_file(self, suffix: str) -> Path:
        folder = None if self._stdout else (os.path.dirname(self.out) or ".")
        fd, name = tempfile.mkstemp(prefix=".glrm-", suffix=suffix, dir=folder)
        os.close(fd)
        self._scratch.append(Path(name))
        return Path(name)

    def _open(self) -> None:
        try:
            if self._bcf:  # records go to a plain-text body; the BCF is built at commit
                self._fh = open(self._scratch_file(".body.vcf"), "wb")
                return
            if self.out_type == "z":
                import pysam

                target = "-" if self._stdout else str(self._temp(self.out, ".vcf.gz").path)
                sys.stdout.flush()
                self._fh = pysam.BGZFile(target, "wb", None)
            elif self._stdout:
                self._fh = sys.stdout.buffer
            else:
                self._fh = open(self._temp(self.out, ".vcf").path, "wb")
            self._put("\n".join(self.header) + "\n")
        except BaseException:
            self._cleanup()
            raise

    # ---- writing -------------------------------------------------------------------------------
    def _put(self, text: str) -> None:
        data = text.encode("utf-8", "surrogateescape")
        self._buf.append(data)
        self._buf_bytes += len(data)
        if self._buf_bytes >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._write(b"".join(self._buf))
            self._buf.clear()
            self._buf_bytes = 0

    def write(self, raw: str, values: Mapping[str, Sequence[object] | None],
              samples: Mapping[str, Sequence[Sequence[object] | None] | None] | None = None) -> None:
        """Write one record: `raw` (no newline) with `values` (key -> one value per ALT) in its INFO and, when
        the writer has FORMAT keys, `samples` (key -> one list of values per sample) in its sample columns
        (`annotate_samples`)."""
        if self._closed:
            raise ValueError("write() after the annotator was closed")
        line = annotate_line(raw, self.infos, values)
        if self.formats:
            line = annotate_samples(line, self.formats, self.n_samples, samples or {})
        cols = line.rstrip("\r").split("\t")
        self._track(cols)
        self._put(line + "\n")
        self.records += 1

    def write_raw(self, raw: str) -> None:
        """Write one record line (no newline) exactly as given, e.g. copied from another glrm output."""
        if self._closed:
            raise ValueError("write_raw() after the annotator was closed")
        self._track(raw.rstrip("\r").split("\t"))
        self._put(raw + "\n")
        self.records += 1

    def _track(self, cols: list[str]) -> None:
        if self._declared is not None:
            self._declared.scan(cols)
        try:
            pos = int(cols[1])
        except ValueError:
            return
        end = pos + len(cols[3]) - 1
        for entry in cols[7].split(";"):
            if entry.startswith("END="):
                try:
                    end = max(end, int(entry[4:]))
                except ValueError:
                    pass
        self._max_pos = max(self._max_pos, end)
        self._note_position(cols[0], pos)

    # ---- finishing -----------------------------------------------------------------------------

    def _finish(self) -> None:
        """Build the index, and rename into place (data first, then index); BCF is converted first."""
        if self._bcf:
            self._finish_bcf()
        elif self.out_type == "z" and not self._stdout:
            self._finish_bgzf()
        elif not self._stdout:
            self._temps[0].commit()

    def _index_kind_of_records(self) -> str | None:
        return self._index_kind(self._max_pos, "records",
                                "sort it (bcftools sort) and index it to query regions")

    def _build_index(self, data: TempOutput, kind: str | None) -> tuple[TempOutput | None, str | None]:
        """Index the finished temporary data file as `kind`; a failure costs the index only (a warning)."""
        import pysam
        import pysam.bcftools
        import pysam.utils

        def build(path: str, index_path: str) -> None:
            if self._bcf:
                pysam.bcftools.index("--csi", "-f", "-o", index_path, path)
            else:
                pysam.tabix_index(path, preset="vcf", index=index_path, csi=kind == "csi", force=True)

        return self._index_or_warn(data, kind, build, (pysam.utils.SamtoolsError, OSError, ValueError),
                                   "check that the ##contig lengths cover every record, then index it with "
                                   "bcftools index")

    def _finish_bgzf(self) -> None:
        data = self._temps[0]
        self._commit_with_index(data, *self._build_index(data, self._index_kind_of_records()))

    def _finish_bcf(self) -> None:
        import pysam
        import pysam.bcftools
        import pysam.utils

        body = self._scratch[0]
        extra = self._declared.extra if self._declared else []
        if extra:
            log.warning("%s: BCF needs declarations the input header lacks; added %d header line(s) "
                        "such as %s", self.out, len(extra), extra[0])
        text = self._scratch_file(".full.vcf")
        with open(text, "wb") as fh:
            fh.write(("\n".join(self.header[:-1] + extra + self.header[-1:]) + "\n").encode("utf-8",
                                                                                         "surrogateescape"))
            with open(body, "rb") as src:
                shutil.copyfileobj(src, fh, 1 << 20)
        # bcftools (bundled with pysam) converts without touching records; pysam's own writer would add
        # INFO/END to every symbolic allele.
        target = self._scratch_file(".bcf") if self._stdout else self._temp(self.out, ".bcf").path
        try:
            pysam.bcftools.view("--no-version", f"-O{self.out_type}", "-o", str(target), str(text),
                                catch_stdout=False)
        except pysam.utils.SamtoolsError as e:
            if write_failure(self.out, e, target).no_room:
                raise write_error(self.out, e, target) from None
            raise OutputError(f"{self.out}: could not write BCF ({e}); write VCF instead (-O v or -O z)"
                              ) from e
        if self._stdout:
            with open(target, "rb") as src:
                shutil.copyfileobj(src, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
            return
        data = self._temps[-1]
        kind = None
        if self.out_type == "b" and self._index_kind_of_records():  # only compressed BCF is indexable
            kind = "csi"  # BCF indexes are always CSI
        self._commit_with_index(data, *self._build_index(data, kind))

    def _cleanup(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh is not None and fh is not sys.stdout.buffer:
            close_quietly(fh, [t.path for t in self._temps] + self._scratch)   # the file is deleted anyway
        for t in self._temps:
            t.discard()
        for p in self._scratch:
            with suppress(OSError):    # a folder made read-only during the run
                p.unlink(missing_ok=True)
        for t in self._temps:  # tools may leave their own side files next to a temp
            for side in (".tbi", ".csi"):
                with suppress(OSError):
                    Path(str(t.path) + side).unlink(missing_ok=True)
