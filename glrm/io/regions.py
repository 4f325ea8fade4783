"""Region filters for the VCF reader: bcftools-style `-r` strings and `-R` BED files, as 0-based spans.

`-r` follows bcftools' syntax, 1-based and inclusive: `chr`, `chr:pos`, `chr:beg-end`, `chr:beg-`, several
joined by commas. `-R` is a BED file (0-based half-open; plain or gzip; `#`/`track`/`browser` lines skipped).
`merge_spans` sorts and merges the spans of each contig, so a record is fetched once per merged span.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

from glrm.errors import InputError
from glrm.io.compression import open_binary

# (contig, start0, end0); end0 None means "to the end of the contig".
Span = tuple[str, int, int | None]

_REGION = re.compile(r"^(?P<chrom>.+?)(?::(?P<beg>\d+)(?:(?P<dash>-)(?P<end>\d*))?)?$")
_SYNTAX = "use chr, chr:pos, chr:beg-end or chr:beg- (1-based, inclusive), comma-separated"


def parse_regions(text: str, known_contigs: Iterable[str] = ()) -> list[Span]:
    """Spans of a bcftools `-r` string. An item equal to a known contig name is that whole contig."""
    known = set(known_contigs)
    spans: list[Span] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise InputError(f"--regions {text!r}: empty region in the list; {_SYNTAX}")
        if item in known:
            spans.append((item, 0, None))
            continue
        m = _REGION.match(item)
        if m is None:
            raise InputError(f"--regions {text!r}: cannot read {item!r}; {_SYNTAX}")
        chrom, beg, dash, end = m.group("chrom"), m.group("beg"), m.group("dash"), m.group("end")
        if beg is None:
            if ":" in item:  # '20:abc': a bad position, not a contig named so (unless the index has one)
                raise InputError(f"--regions {text!r}: cannot read {item!r}; {_SYNTAX}")
            spans.append((chrom, 0, None))
            continue
        b = int(beg)
        if b < 1:
            raise InputError(f"--regions {text!r}: {item!r} starts at {b}; positions are 1-based")
        if dash is None:
            spans.append((chrom, b - 1, b))
        elif end == "":
            spans.append((chrom, b - 1, None))
        else:
            e = int(end)
            if e < b:
                raise InputError(f"--regions {text!r}: {item!r} ends before it begins; {_SYNTAX}")
            spans.append((chrom, b - 1, e))
    return spans


def read_bed(path: str) -> list[Span]:
    """Spans of a BED file (first three columns; 0-based half-open). Empty intervals select nothing."""
    try:
        with io.TextIOWrapper(open_binary(path), encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except FileNotFoundError:
        raise InputError(f"{path}: regions file not found; check the --regions-file path") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read the regions file ({exc})") from None
    spans: list[Span] = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        f = line.split()
        if len(f) < 3 or not _whole(f[1]) or not _whole(f[2]):
            raise InputError(
                f"{path}: line {n}: not a BED line (need chrom, start, end; 0-based); fix or remove it"
            )
        start, end = int(f[1]), int(f[2])
        if end < start:
            raise InputError(f"{path}: line {n}: BED end {end} is before start {start}; fix the line")
        if end > start:
            spans.append((f[0], start, end))
    return spans


def merge_spans(spans: Iterable[Span]) -> dict[str, list[tuple[int, int | None]]]:
    """Contig -> sorted, non-overlapping (start, end) spans; touching or overlapping spans are merged."""
    by_contig: dict[str, list[tuple[int, int | None]]] = {}
    for chrom, s, e in spans:
        by_contig.setdefault(chrom, []).append((s, e))
    out: dict[str, list[tuple[int, int | None]]] = {}
    for chrom, items in by_contig.items():
        items.sort(key=lambda x: (x[0], float("inf") if x[1] is None else x[1]))
        merged: list[tuple[int, int | None]] = []
        for s, e in items:
            if merged:
                ps, pe = merged[-1]
                if pe is None:
                    continue
                if s <= pe:
                    merged[-1] = (ps, None if e is None else max(pe, e))
                    continue
            merged.append((s, e))
        out[chrom] = merged
    return out


def _whole(text: str) -> bool:
    """A whole number >= 0 in ASCII digits (str.isdigit also takes e.g. '²', which int() refuses)."""
    return text.isascii() and text.isdigit()
