"""`glrm merge`: join the outputs of `glrm score-vcf/score-sv --shard i/n` into one VCF, checked.

Each shard carries `##glrmShard=<Index=i,Total=n,Records=r,Start=s,Of=N>` (glrm.pipeline.shard). Before
anything is written, merge checks that every shard is a glrm shard, that all agree on n and N, that shards
1..n are each given exactly once (the command line may list them in any order: they are joined by Index,
so a shell glob that sorts shard10 before shard2 is fine), that they tile the records (Start of each = Start
+ Records of the one before; the last ends at N), and that their headers are equal apart from the
`##glrmShard` line and the `##glrmCommand` lines (those name the shard, the output and the date); shards
scored under different score definitions (`Definitions=` in ##glrm_model, docs/definitions.md) are refused
with a message of their own.
Then it copies the records, shard by shard, untouched, and checks each shard held the records its header
promises (fewer or a cut-off last line: a truncated shard). The output header is shard 1's without its
`##glrmShard` line. The output goes through the project's writer (glrm.io.vcf_writer): atomic, indexed,
any of -O v|z|b|u. Shards are VCF text, plain or bgzipped (BCF shards: convert them or use bcftools concat).
"""

from __future__ import annotations

import gzip
import io
import itertools
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from glrm.errors import InputError
from glrm.io.compression import open_binary, sniff
from glrm.io.vcf_writer import VcfAnnotator, check_output
from glrm.pipeline.shard import SHARD_PREFIX, ShardRange, parse_shard_line

_IGNORED = (SHARD_PREFIX, "##glrmCommand=")


@dataclass
class ShardFile:
    """One shard: its path, header lines (no newlines) and the range its ##glrmShard line gives."""

    path: str
    header: list[str]
    range: ShardRange

    def comparable_header(self) -> list[str]:
        return [h for h in self.header if not h.startswith(_IGNORED)]


def _open_text(path: str):
    try:
        _, is_bcf = sniff(path)
    except OSError as e:
        raise InputError(f"{path}: cannot read the shard ({e.strerror}); check the path") from None
    if is_bcf:
        raise InputError(f"{path}: is BCF; glrm merge joins VCF shards (write shards with -O z), or use "
                         "bcftools concat")
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", errors="surrogateescape", newline="\n")


def _lines(path: str) -> Iterator[str]:
    """The lines of a shard without their newline; a cut-off file is an InputError."""
    try:
        with _open_text(path) as fh:
            for line in fh:
                if not line.endswith("\n"):
                    raise InputError(f"{path}: the last line has no newline: the shard is truncated; "
                                     "score this shard again")
                yield line[:-1]
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise InputError(f"{path}: the compressed data is cut off or damaged ({e}): the shard is truncated; "
                         "score this shard again") from None


def read_shard_header(path: str) -> ShardFile:
    header: list[str] = []
    for line in _lines(path):
        header.append(line)
        if line.startswith("#CHROM"):
            break
        if not line.startswith("##"):
            raise InputError(f"{path}: line {len(header)} comes before the #CHROM line; not a VCF shard")
    if not header or not header[-1].startswith("#CHROM"):
        raise InputError(f"{path}: no #CHROM header line: empty or truncated; score this shard again")
    ranges = [parse_shard_line(h) for h in header if h.startswith(SHARD_PREFIX)]
    if not ranges:
        raise InputError(f"{path}: has no ##glrmShard header line; merge takes the outputs of "
                         "glrm score-vcf/score-sv --shard i/n")
    if len(ranges) > 1 or ranges[0] is None:
        raise InputError(f"{path}: needs exactly one well-formed ##glrmShard=<Index=..,Total=..,Records=..,"
                         "Start=..,Of=..> line; score this shard again")
    return ShardFile(path, header, ranges[0])


def check_shards(shards: Sequence[ShardFile]) -> list[ShardFile]:
    """The shards in Index order, after the completeness, tiling and header checks."""
    if not shards:
        raise InputError("glrm merge: give the shard files to join")
    first = shards[0]
    total, of = first.range.shard.total, first.range.of
    by_index: dict[int, ShardFile] = {}
    for s in shards:
        r = s.range
        if r.shard.total != total or r.of != of:
            raise InputError(f"{s.path}: is shard {r.shard} of a run over {r.of} records, {first.path} is "
                             f"shard {first.range.shard} over {of}: they come from different runs; give the "
                             "shards of one run")
        if r.shard.index in by_index:
            raise InputError(f"shard {r.shard} is given twice: {by_index[r.shard.index].path} and {s.path}; "
                             "give each shard once")
        by_index[r.shard.index] = s
    missing = [i for i in range(1, total + 1) if i not in by_index]
    if missing:
        names = ", ".join(f"{i}/{total}" for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(f"shard {names} missing ({len(by_index)} of {total} given); give all {total} shards")
    ordered = [by_index[i] for i in range(1, total + 1)]
    at = 0
    for s in ordered:
        if s.range.start != at:
            raise InputError(f"{s.path}: shard {s.range.shard} starts at record {s.range.start}, expected "
                             f"{at}; the shards do not come from one run; score them again")
        at = s.range.end
    if at != of:
        raise InputError(f"the shards hold {at} records, their run had {of}; score them again")
    version = {s.path: definitions_version(s.header) for s in ordered}
    old, new = min(version, key=version.get), max(version, key=version.get)
    if version[old] != version[new]:
        raise InputError(f"{old}: was scored under glrm's score definitions {version[old]}, {new} under "
                         f"{version[new]} (docs/definitions.md); their values do not mean the same, so score "
                         "every shard with one glrm version")
    ref = first.comparable_header()
    for s in ordered:
        other = s.comparable_header()
        if other != ref:
            diff = next((a, b) for a, b in itertools.zip_longest(ref, other, fillvalue="") if a != b)
            raise InputError(f"{s.path}: header differs from {first.path} ({diff[1][:60]!r} vs "
                             f"{diff[0][:60]!r}): not shards of one run; score them with the same options")
    return ordered


_DEFINITIONS = re.compile(r"[<,]Definitions=([^,>]+)")


def definitions_version(header: Sequence[str]) -> int:
    """The score-definitions version in a header's ##glrm_model line (glrm.io.fields.DEFINITIONS_VERSION);
    1 when the line has no Definitions key (glrm before version 2 wrote none)."""
    for line in header:
        if line.startswith("##glrm_model="):
            m = _DEFINITIONS.search(line)
            return int(m.group(1)) if m and m.group(1).isdigit() else 1
    return 1


def merge(shard_paths: Sequence[str], output: str, out_type: str | None = None) -> int:
    """Join the shards into `output`; return the number of records written."""
    kind = check_output(output, out_type)
    for p in shard_paths:
        if output != "-" and p == output:
            raise InputError(f"{p}: is both a shard and the output; write the merged VCF to another file")
    ordered = check_shards([read_shard_header(p) for p in shard_paths])
    header = [h for h in ordered[0].header if not h.startswith(SHARD_PREFIX)]
    with VcfAnnotator.copy_of(output, header, out_type=kind) as out:
        for s in ordered:
            n = 0
            lines = _lines(s.path)
            for line in lines:
                if line.startswith("#CHROM"):
                    break
            for line in lines:
                if not line:
                    continue
                out.write_raw(line)
                n += 1
            if n != s.range.records:
                raise InputError(f"{s.path}: holds {n} records, its ##glrmShard line says "
                                 f"{s.range.records}: the shard is truncated; score it again")
        return out.records
