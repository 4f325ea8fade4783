"""Progress and the end-of-run summary of `glrm score-vcf`, both on stderr (stdout may carry the VCF).

`Progress` is a rich progress bar (done/total variants, variants/s, ETA); with no total (stdin) it shows the
count and the rate only. `count_records` gives the total with a quick pass over the input before scoring.
`RunSummary` collects the counts per status and renders the summary lines; the first allele of each non-OK
status is kept as an example, so the summary says why (and, for symbolic alleles, to use score-sv).
"""

from __future__ import annotations

import gzip
import sys
import time
from dataclasses import dataclass, field

from glrm.io.compression import gzip_kind
from glrm.variants import Kind, Status

_SV_KINDS = (Kind.SV_SYMBOLIC, Kind.BND)


def count_records(path: str, regions: str | None = None, regions_file: str | None = None) -> int | None:
    """Number of records the run will read, or None when it cannot be known up front (stdin).

    Text VCF without regions: a byte-level pass over the (decompressed) lines, no parsing. BCF or region
    queries: one pass of a second reader (cheap next to scoring).
    """
    if path == "-":
        return None
    if regions is None and regions_file is None:
        with open(path, "rb") as fh:
            head = fh.read(64)
        if not head.startswith(b"BCF") and (gzip_kind(head) is None or not _is_bcf_gz(path)):
            opener = gzip.open if gzip_kind(head) else open
            n = 0
            try:
                with opener(path, "rb") as fh:
                    for line in fh:
                        if line[:1] not in (b"#", b"\n", b"\r"):
                            n += 1
            except (OSError, EOFError):
                return None  # the real read reports the damage with its line
            return n
    from glrm.io.vcf import VcfReader

    with VcfReader(path, regions=regions, regions_file=regions_file) as reader:
        return sum(1 for _ in reader)


def _is_bcf_gz(path: str) -> bool:
    with gzip.open(path, "rb") as fh:
        try:
            return fh.read(4) == b"BCF\x02"
        except (OSError, EOFError):
            return False


class Progress:
    """A rich progress bar on stderr; a no-op when `enabled` is False. Use as a context manager."""

    def __init__(self, total: int | None, enabled: bool = True, label: str = "scoring") -> None:
        self.enabled = enabled
        self._bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("variants"), TextColumn("{task.fields[rate]}"), TimeElapsedColumn()]
        if total is not None:
            columns.append(TextColumn("ETA"))
            columns.append(TimeRemainingColumn())
        self._console = Console(file=sys.stderr)
        self._bar = RichProgress(*columns, console=self._console, transient=False)
        self._task = self._bar.add_task(label, total=total, rate="")
        self._t0 = time.perf_counter()

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def advance(self, n: int) -> None:
        if self._bar is None:
            return
        self._bar.advance(self._task, n)
        done = self._bar.tasks[0].completed
        dt = time.perf_counter() - self._t0
        self._bar.update(self._task, rate=f"{done / dt:,.1f}/s" if dt > 0 else "")

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._bar is not None:
            if exc_type is not None:   # an error or Ctrl-C: its one line is all the user should see
                self._bar.live.transient = True
            self._bar.stop()


@dataclass
class RunSummary:
    """What a run did, for the summary lines (and for tests)."""

    records: int = 0
    alleles: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)   # status -> "where: note" of its first allele
    sv_alleles: int = 0          # symbolic/breakend ALTs (UNSUPPORTED_ALLELE here; score-sv scores them)
    passes: int = 0
    seconds: float = 0.0
    device: str = ""
    window: int = 0
    chunk: int | None = None     # tokens per chunk inside a pass (None: each window in one pass)
    chunk_auto: bool = False     # the chunk came from --chunk-size auto
    outputs: list[str] = field(default_factory=list)

    def geometry(self) -> str:
        """'window W', 'window W in chunks of C' or 'window W in one chunk', the last two with ' (--chunk-size
        auto)' when auto chose, for the summary line."""
        chunked = self.chunk is not None and self.chunk < self.window
        how = f" in chunks of {self.chunk:,}" if chunked else " in one chunk" if self.chunk_auto else ""
        return f"window {self.window:,}{how}" + (" (--chunk-size auto)" if self.chunk_auto else "")

    def add(self, status: Status, where: str, note: str, kind: Kind) -> None:
        key = status.value
        self.statuses[key] = self.statuses.get(key, 0) + 1
        self.alleles += 1
        if status is not Status.OK and key not in self.examples:
            self.examples[key] = f"{where}: {note}"
        if kind in _SV_KINDS:
            self.sv_alleles += 1

    def lines(self) -> list[str]:
        """The summary as printed on stderr."""
        order = [s.value for s in Status]
        counts = ", ".join(f"{k} {self.statuses[k]:,}" for k in order if k in self.statuses) or "none"
        rate = f", {self.records / self.seconds:,.1f} variants/s" if self.seconds > 0 and self.records else ""
        out = [
            f"glrm score-vcf: {self.records:,} records, {self.alleles:,} ALT alleles: {counts}",
            f"glrm score-vcf: {self.passes:,} model passes, {self.geometry()}, "
            f"{self.seconds:.1f} s wall{rate}, device {self.device}",
        ]
        for key in order:
            if key in self.examples:
                out.append(f"glrm score-vcf: first {key}: {self.examples[key]}")
        if self.sv_alleles:
            out.append(f"glrm score-vcf: {self.sv_alleles:,} symbolic/breakend ALT alleles got "
                       "UNSUPPORTED_ALLELE; score them with `glrm score-sv`")
        if self.outputs:
            out.append("glrm score-vcf: wrote " + ", ".join(self.outputs))
        return out
