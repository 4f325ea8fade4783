"""Progress and the end-of-run summary of `glrm score-vcf`, both on stderr (stdout may carry the VCF).

`Progress` is a rich progress bar (done/total variants, variants/s, ETA) when stderr is a terminal; with no
total (stdin) it shows the count and the rate only. When stderr is not a terminal (a cluster job's log file,
a pipe) a bar draws nothing, so it writes a plain line every GLRM_LOG_INTERVAL seconds (default 30) instead:
records done (of the total), ALT alleles, alleles/s, model passes, elapsed time and ETA. The total comes from
`glrm.io.vcf.count_records`, a quick pass over the input before scoring.
`RunSummary` collects the counts per status and renders the summary lines; the first allele of each non-OK
status is kept as an example, so the summary says why (and, for symbolic alleles, to use score-sv).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field

from glrm.variants import Kind, Status

_SV_KINDS = (Kind.SV_SYMBOLIC, Kind.BND)


LOG_INTERVAL = 30.0   # seconds between plain progress lines when stderr is not a terminal


def log_interval() -> float:
    """GLRM_LOG_INTERVAL (seconds, > 0) when set to a number, else LOG_INTERVAL."""
    try:
        value = float(os.environ.get("GLRM_LOG_INTERVAL", ""))
    except ValueError:
        return LOG_INTERVAL
    return value if 0 < value < float("inf") else LOG_INTERVAL


class Progress:
    """Progress on stderr: a rich bar on a terminal, plain lines at a steady interval otherwise; a no-op when
    `enabled` is False. Use as a context manager. `advance` counts records scored by this run (and their ALT
    alleles), `skip` records an earlier run did (a --resume replay): they count toward the total, not the
    rate."""

    def __init__(self, total: int | None, enabled: bool = True, label: str = "scoring",
                 command: str = "glrm score-vcf") -> None:
        self.enabled = enabled
        self._bar = None
        self._lines: _Lines | None = None
        if not enabled:
            return
        from rich.console import Console

        self._console = Console(file=sys.stderr)
        if not self._console.is_terminal or self._console.is_dumb_terminal:
            self._lines = _Lines(total, command, sys.stderr, log_interval())
            return
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
        self._bar = RichProgress(*columns, console=self._console, transient=False)
        self._task = self._bar.add_task(label, total=total, rate="")
        self._t0 = time.perf_counter()
        self._scored = 0

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        if self._lines is not None:
            self._lines.start()
        return self

    def advance(self, n: int, alleles: int = 0) -> None:
        """`n` records (with `alleles` ALT alleles) scored by this run."""
        if self._lines is not None:
            self._lines.add(n, alleles, scored=True)
        if self._bar is None:
            return
        self._bar.advance(self._task, n)
        self._scored += n
        dt = time.perf_counter() - self._t0
        self._bar.update(self._task, rate=f"{self._scored / dt:,.1f}/s" if dt > 0 else "")

    def follow(self, engine) -> None:
        """Show `engine.passes_run` (model passes so far) in the plain lines: it moves within a block of
        records, while the record count moves once per block."""
        if self._lines is not None:
            self._lines.engine = engine

    def skip(self, n: int) -> None:
        """`n` records done by an earlier run (replayed from a --resume checkpoint)."""
        if self._lines is not None:
            self._lines.add(n, 0, scored=False)
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._lines is not None:
            self._lines.stop()
        if self._bar is not None:
            if exc_type is not None:   # an error or Ctrl-C: its one line is all the user should see
                self._bar.live.transient = True
            self._bar.stop()


class _Lines:
    """Plain progress lines on `stream` every `interval` seconds, from a daemon thread (so a line comes on
    time even while one long block of windows is being scored)."""

    def __init__(self, total: int | None, command: str, stream, interval: float) -> None:
        self.total, self.command, self.stream, self.interval = total, command, stream, interval
        self.done = self.scored = self.alleles = 0
        self.engine = None   # with `passes_run`, shown when set
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="glrm-progress", daemon=True)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def add(self, n: int, alleles: int, scored: bool) -> None:
        self.done += n
        if scored:
            self.scored += n
            self.alleles += alleles

    def _run(self) -> None:
        due = self._t0 + self.interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += self.interval
            try:
                self.stream.write(self.line() + "\n")   # one write: whole lines even beside warnings
                self.stream.flush()
            except (OSError, ValueError):   # stderr closed or gone: stop logging, keep scoring
                return

    def line(self, now: float | None = None) -> str:
        """'glrm score-vcf: 1,200 of 5,000 records (24.0%), 2,403 ALT alleles, 40.0 alleles/s, 4,105 model
        passes, 1m00s elapsed, ETA 3m27s' (no 'of', percentage or ETA without a total; no passes without an
        engine to follow)."""
        elapsed = (time.monotonic() if now is None else now) - self._t0
        rate = self.alleles / elapsed if elapsed > 0 else 0.0
        done = f"{self.done:,} records"
        eta = ""
        if self.total is not None:
            pct = 100.0 * self.done / self.total if self.total else 100.0
            done = f"{self.done:,} of {self.total:,} records ({pct:.1f}%)"
            left = max(0, self.total - self.done)
            when = _duration(left * elapsed / self.scored) if self.scored else "unknown" if left else "0s"
            eta = f", ETA {when}"
        passes = ("" if self.engine is None
                  else f"{int(getattr(self.engine, 'passes_run', 0)):,} model passes, ")
        return (f"{self.command}: {done}, {self.alleles:,} ALT alleles, {rate:,.1f} alleles/s, {passes}"
                f"{_duration(elapsed)} elapsed{eta}")


def _duration(seconds: float) -> str:
    """45s, 3m07s, 2h05m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


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
    resumed: int | None = None   # records replayed from a --resume checkpoint (None: no checkpoint found)

    def resumed_note(self) -> str:
        """After a --resume restart, the records taken from the checkpoint (the counts before the note are
        this run's own); else ''."""
        if self.resumed is None:
            return ""
        return (f"; {self.resumed:,} more records resumed from the checkpoint "
                f"({self.resumed + self.records:,} in all)")

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
            f"glrm score-vcf: {self.records:,} records, {self.alleles:,} ALT alleles: {counts}"
            + self.resumed_note(),
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
