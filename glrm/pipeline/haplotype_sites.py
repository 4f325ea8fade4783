"""The background records of score-haplotypes: the phased VCF's records near the current target, parsed once
into `glrm.windows.haplotype.Site`s with the selected samples' allele codes (docs/score-haplotypes.md).

- `select_samples`: -s/-S against the VCF's samples.
- `StoredSite`, `make_site`: one record's site (its edits, or why an allele cannot be applied) and genotypes.
- `SiteBuffer`: the sites of one contig in file order, from which each target takes those within 2W of it.
- `RegionFeed`: fills a buffer from the phased VCF by region query (`-r/-R` and `--targets`); without them the
  pipeline feeds the buffer from the very reader that gives the targets (one pass over the file).
- `haplotype_columns`: the haplotypes of a target's sites, grouped by identical allele columns, so the walk
  (`glrm.windows.haplotype.walk`) runs once per distinct column.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glrm.dna import normalize
from glrm.errors import InputError
from glrm.io.genotypes import DEFAULT_PHASE_SET, read_genotypes
from glrm.io.vcf import Record, VcfReader
from glrm.variants import NO_PHASE_SET, HapStatus, Kind
from glrm.windows.haplotype import Site, trim_edit

_SPELLED = (Kind.SNV, Kind.MNV, Kind.INS, Kind.DEL, Kind.COMPLEX, Kind.SV_SEQUENCE)


def select_samples(names: list[str], path: str, samples: str | None = None,
                   samples_file: str | None = None) -> list[int]:
    """The 0-based indices (in VCF order) of the samples -s (comma-separated) or -S (one a line) name; all
    samples without either. An unknown name is an InputError that names it."""
    if not names:
        raise InputError(f"{path}: has no sample columns; score-haplotypes needs a VCF with phased genotypes "
                         "(GT) of at least one sample")
    if samples is None and samples_file is None:
        return list(range(len(names)))
    if samples_file is not None:
        try:
            wanted = [x.strip() for x in Path(samples_file).read_text().splitlines() if x.strip()]
        except OSError as exc:
            raise InputError(f"-S {samples_file}: cannot read it ({exc.strerror}); give a file with one "
                             "sample name a line") from None
    else:
        wanted = [x.strip() for x in (samples or "").split(",") if x.strip()]
    if not wanted:
        raise InputError("-s/-S names no sample; give one or more sample names")
    index = {n: i for i, n in enumerate(names)}
    unknown = [w for w in wanted if w not in index]
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise InputError(f"{path}: no sample named {shown}; the VCF has {len(names)} samples such as "
                         f"{', '.join(names[:3])}")
    return sorted({index[w] for w in wanted})


@dataclass
class StoredSite:
    """One background record: its site, normalised REF, the selected samples' codes (S, 2) and phase sets."""

    site: Site
    ref: str
    codes: np.ndarray                 # (S, 2) int16: glrm.io.genotypes
    phase_sets: np.ndarray | None     # (S,) int64, or None when the record has no PS


def make_site(rec: Record, genome, chrom: str, samples: list[int], where: str) -> StoredSite:
    """The site of background record `rec` on FASTA contig `chrom`: each spelled-out ALT as its trimmed edit
    (`glrm.windows.haplotype.trim_edit`), or BACKGROUND_REF_MISMATCH when REF differs from the FASTA; '*' as
    nothing to apply; symbolic, breakend and other sequence-less ALTs as SYMBOLIC_IN_WINDOW, their span
    reaching INFO/END."""
    codes, sets = read_genotypes(rec.raw.split("\t"), samples, len(rec.alts), where)
    start = rec.pos - 1
    ref = normalize(rec.ref)
    end = start + len(ref)
    ref_ok = None
    alleles = []
    for a in rec.alleles:
        if a.kind in _SPELLED and a.ref not in ("", "."):
            if ref_ok is None:
                ref_ok = genome.fetch(chrom, start, end) == ref
            alleles.append(trim_edit(start, ref, normalize(a.alt)) if ref_ok
                           else HapStatus.BACKGROUND_REF_MISMATCH)
        elif a.kind is Kind.UNSUPPORTED and a.alt == "*":
            alleles.append(None)              # the allele of an overlapping deletion, applied by its record
        else:
            alleles.append(HapStatus.SYMBOLIC_IN_WINDOW)
            if a.sv.end is not None:
                end = max(end, a.sv.end)
    return StoredSite(Site(start, end, tuple(alleles)), ref, codes, sets)


class SiteBuffer:
    """The sites of one contig in file order (sorted by start), with the records' sortedness checked."""

    def __init__(self, path: str):
        self.path = path
        self.chrom: str | None = None
        self.done: set[str] = set()          # contigs already passed (tee mode: a contig seen twice)
        self.reset(None)

    def reset(self, chrom: str | None) -> None:
        self.chrom = chrom
        self.items: list[StoredSite] = []
        self.starts: list[int] = []
        self.head = 0
        self.reach = 0                       # the longest span of a site: how far back a start can reach
        self.dropped = -(1 << 62)            # sites that cannot reach this bound are forgotten

    def add(self, stored: StoredSite, chrom: str, where: str, check_order: bool = True) -> None:
        if chrom != self.chrom:
            if check_order and chrom in self.done:
                raise InputError(f"{where}: contig {chrom} comes back after other contigs: the VCF is not "
                                 "sorted; sort it (bcftools sort) and index it")
            if self.chrom is not None:
                self.done.add(self.chrom)
            self.reset(chrom)
        s = stored.site
        if check_order and self.starts and s.start < self.starts[-1]:
            raise InputError(f"{where}: POS {s.start + 1} comes after POS {self.starts[-1] + 1} on {chrom}: "
                             "the VCF is not sorted; sort it (bcftools sort) and index it")
        self.items.append(stored)
        self.starts.append(s.start)
        self.reach = max(self.reach, s.end - s.start)

    def drop_before(self, bound: int) -> None:
        """Forget the sites that cannot reach `bound` (start + longest span <= bound)."""
        self.dropped = max(self.dropped, bound)
        k = bisect.bisect_right(self.starts, bound - self.reach - 1, self.head)
        self.head = k
        if self.head > 4096 and self.head > len(self.items) // 2:
            self.items, self.starts = self.items[self.head:], self.starts[self.head:]
            self.head = 0

    def between(self, lo: int, hi: int) -> list[StoredSite]:
        """The sites with end > lo and start < hi, in file order."""
        i0 = bisect.bisect_left(self.starts, lo - self.reach, self.head)
        i1 = bisect.bisect_left(self.starts, hi, i0)
        return [x for x in self.items[i0:i1] if x.site.end > lo]


class RegionFeed:
    """Fills a SiteBuffer from the phased VCF by region queries: `ensure(chrom, lo, hi)` holds every record
    with end > lo and start < hi (reads on from where it is, or re-opens the query at `lo` after a jump)."""

    def __init__(self, path: str, buffer: SiteBuffer, site_of, jump: int):
        self.path, self.buffer, self.site_of, self.jump = path, buffer, site_of, jump
        self.reader: VcfReader | None = None
        self.records = None
        self.chrom: str | None = None      # the FASTA's name of the contig being read
        self.lo = 0                        # the query started here: records with end > lo are all held
        self.read_to = -1                  # the start of the last record read (-1: none yet)
        self.exhausted = False

    def ensure(self, name: str, chrom: str, lo: int, hi: int) -> None:
        behind = lo < max(self.lo, self.buffer.dropped)     # a target before the last one (unsorted targets)
        if chrom != self.chrom or behind or (lo > self.read_to + self.jump and not self.exhausted):
            self._open(name, chrom, lo)
        while not self.exhausted and self.read_to < hi:
            rec = next(self.records, None)
            if rec is None:
                self.exhausted = True
                break
            where = f"{self.path}: record {rec.chrom}:{rec.pos}"
            self.buffer.add(self.site_of(rec, chrom, where), chrom, where, check_order=False)
            self.read_to = max(self.read_to, rec.pos - 1)

    def _open(self, name: str, chrom: str, lo: int) -> None:
        self.close()
        self.reader = VcfReader(self.path, regions=f"{name}:{max(lo, 0) + 1}-")
        self.records = iter(self.reader)
        self.chrom, self.lo, self.read_to, self.exhausted = chrom, lo, lo - 1, False
        self.buffer.reset(chrom)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


def haplotype_columns(stored: list[StoredSite]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray,
                                                         np.ndarray]:
    """(codes (n_sites, 2S), phase sets (n_sites, 2S) or None, unique column index per haplotype (2S,), first
    haplotype of each unique column (U,)) of a target's sites; haplotype 2i + h is slot h of sample i.
    Haplotypes with identical columns (codes, and phase sets where any site has PS) walk identically."""
    codes = np.stack([x.codes for x in stored]).reshape(len(stored), -1)              # (n_sites, 2S)
    sets = None
    if any(x.phase_sets is not None for x in stored):
        rows = []
        for x in stored:
            if x.phase_sets is not None:
                rows.append(x.phase_sets)
            else:                       # a phased heterozygote without PS: the one default phase set
                a, b = x.codes[:, 0], x.codes[:, 1]
                rows.append(np.where((a >= 0) & (b >= 0) & (a != b), DEFAULT_PHASE_SET, NO_PHASE_SET))
        sets = np.repeat(np.stack(rows), 2, axis=1)                                   # (n_sites, 2S)
    key = codes if sets is None else np.vstack([codes.astype(np.int64), sets])
    _, first, inverse = np.unique(key.T, axis=0, return_index=True, return_inverse=True)
    return codes, sets, inverse.reshape(-1), first
