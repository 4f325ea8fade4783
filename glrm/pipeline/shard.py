"""`--shard i/n`: pick a deterministic, contiguous slice of a VCF's records (after -r/-R filtering).

Record k (0-based) of the N records a run reads goes to shard floor(k*n/N)+1, so shard i holds records
[ceil((i-1)*N/n), ceil(i*N/n)): shards are contiguous, in input order, differ in size by at most one, and
together hold every record exactly once. N comes from a counting pass with the same reader (so it counts
exactly what the run reads); stdin cannot be read twice, so --shard refuses it. With n > N some shards are
empty: they are valid header-only outputs.

Every shard's header gets one line, `##glrmShard=<Index=i,Total=n,Records=r,Start=s,Of=N>` (Start: the
0-based number of its first record in the whole run), which `glrm merge` reads to check completeness, order
and truncation, and drops from the merged header.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from glrm.errors import InputError

SHARD_PREFIX = "##glrmShard="
_SPEC_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_LINE_RE = re.compile(r"^##glrmShard=<Index=(\d+),Total=(\d+),Records=(\d+),Start=(\d+),Of=(\d+)>$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `total`."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


@dataclass(frozen=True)
class ShardRange:
    """The records [start, end) of the `of` records a run reads, for shard `shard`."""

    shard: Shard
    start: int
    end: int
    of: int

    @property
    def records(self) -> int:
        return self.end - self.start

    def header_line(self) -> str:
        return (f"{SHARD_PREFIX}<Index={self.shard.index},Total={self.shard.total},Records={self.records},"
                f"Start={self.start},Of={self.of}>")

    def select(self, records: Iterable) -> Iterator:
        """The records of this shard from the run's full record stream."""
        return itertools.islice(records, self.start, self.end)


def parse_shard(text: str | None) -> Shard | None:
    """'i/n' with 1 <= i <= n -> Shard; None -> None; anything else: InputError saying the form."""
    if text is None:
        return None
    m = _SPEC_RE.match(str(text))
    if not m:
        raise InputError(f"--shard {text!r}: give i/n with whole numbers, e.g. --shard 2/8 (the 2nd of 8)")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise InputError(f"--shard {text}: i must be from 1 to n and n at least 1, e.g. --shard 1/{max(n, 1)}"
                         )
    return Shard(i, n)


def shard_range(shard: Shard, n_records: int) -> ShardRange:
    """Shard `shard`'s contiguous slice of `n_records` records (ceil((i-1)N/n) .. ceil(iN/n))."""
    def bound(i: int) -> int:
        return -(-i * n_records // shard.total)

    return ShardRange(shard, bound(shard.index - 1), bound(shard.index), n_records)


def count_for_shard(path: str, regions: str | None, regions_file: str | None) -> int:
    """The number of records a run over `path` (with -r/-R) reads (glrm.io.vcf.count_records)."""
    if path == "-":
        raise InputError("--shard needs a file: stdin cannot be read twice (once to count the records); "
                         "save the VCF to a file first, or drop --shard")
    from glrm.io.vcf import count_records

    return count_records(path, regions, regions_file)


def range_for_shard(shard: Shard | None, path: str, regions: str | None, regions_file: str | None
                    ) -> ShardRange | None:
    """Count the records and return the shard's range (None when not sharding)."""
    if shard is None:
        return None
    return shard_range(shard, count_for_shard(path, regions, regions_file))


def with_shard_line(header_lines: list[str], rng: ShardRange | None) -> list[str]:
    """The input header with the shard line before #CHROM (an earlier run's shard line is replaced)."""
    if rng is None:
        return list(header_lines)
    kept = [h for h in header_lines[:-1] if not h.startswith(SHARD_PREFIX)]
    return kept + [rng.header_line(), header_lines[-1]]


def parse_shard_line(line: str) -> ShardRange | None:
    """A `##glrmShard=<...>` line -> its ShardRange; None when `line` is not a well-formed shard line."""
    m = _LINE_RE.match(line.rstrip("\r\n"))
    if not m:
        return None
    i, n, r, s, of = (int(g) for g in m.groups())
    return ShardRange(Shard(i, n), s, s + r, of)
