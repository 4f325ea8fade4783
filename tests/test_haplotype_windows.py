"""The pure haplotype layer (glrm.windows.haplotype, glrm.io.genotypes) against oracles written out here:
a haplotype spelled out by hand (every allele of the haplotype applied along the whole contig), the windows
cut from it by docs/definitions.md's small-variant rule, and the walk's statuses on hand-made sites."""

from __future__ import annotations

import random

import numpy as np
import pytest
from helpers import MemGenome

from glrm.errors import InputError
from glrm.io.genotypes import DEFAULT_PHASE_SET, gt_codes, read_genotypes
from glrm.variants import ABSENT, MISSING, NO_PHASE_SET, POLYPLOID, UNPHASED, Allele, HapStatus, Kind
from glrm.windows import mirror_small_window, small_window
from glrm.windows.haplotype import (
    Edit,
    HapGenome,
    Site,
    TargetSpan,
    protected_span,
    read_span,
    trim_edit,
    walk,
)


def spell(seq: str, alleles: list[tuple[int, str, str]]) -> tuple[str, list[int]]:
    """The haplotype `seq` with `alleles` (0-based pos, REF, ALT; not overlapping) applied, and the haplotype
    position of every reference position outside an allele (-1 inside one)."""
    out, where, prev = [], [-1] * (len(seq) + 1), 0
    n = 0
    for pos, ref, alt in sorted(alleles):
        for g in range(prev, pos):
            where[g] = n + g - prev
        n += pos - prev
        out.append(seq[prev:pos] + alt)
        n += len(alt)
        prev = pos + len(ref)
    for g in range(prev, len(seq) + 1):
        where[g] = n + g - prev
    out.append(seq[prev:])
    return "".join(out), where


def test_trim_edit():
    assert trim_edit(10, "CA", "C") == Edit(11, 12, "")
    assert trim_edit(10, "C", "CTT") == Edit(11, 11, "TT")
    assert trim_edit(10, "CAT", "CGT") == Edit(11, 12, "G")
    assert trim_edit(10, "GAAT", "GT") == Edit(11, 13, "")
    assert trim_edit(10, "A", "A") is None
    assert trim_edit(10, "AC", "GT") == Edit(10, 12, "GT")


def test_hap_genome_is_the_haplotype_spelled_out():
    rng = random.Random(16)
    for _ in range(300):
        seq = "".join(rng.choice("ACGT") for _ in range(400))
        g = MemGenome({"c": seq})
        t, alleles, pos = 200, [], 3
        while True:
            pos += rng.randint(1, 15)
            k = rng.randint(0, 4)
            if pos + k + 1 >= len(seq) - 3:
                break
            if pos <= t < pos + k + 1 or pos == t:
                pos = t + 1
                continue
            q = "".join(rng.choice("ACGT") for _ in range(rng.randint(0, 4)))
            if k or q:
                alleles.append((pos, seq[pos:pos + k], q))
            pos += k
        up = [Edit(p, p + len(r), a) for p, r, a in alleles if p < t][::-1]
        down = [Edit(p, p + len(r), a) for p, r, a in alleles if p > t]
        hap, where = spell(seq, alleles)
        h = HapGenome(g, "c", up, down)
        shift = t - where[t]           # haplotype coordinates keep the target's reference position
        assert h.fetch("c", -5 + shift, len(hap) + 5 + shift) == "N" * 5 + hap + "N" * 5
        assert h.length("c") == len(hap) + shift
        assert h.fetch("c", t, t + 1) == seq[t]


def _random_target_case(rng, w):
    """A random genome, a target SNV or anchored indel that cannot slide, and a haplotype's alleles around it
    (not touching it): (genome, seq, allele, alleles)."""
    while True:
        seq = "".join(rng.choice("ACGT") for _ in range(6 * w))
        t = 3 * w
        kind = rng.choice(["snv", "ins", "del"])
        if kind == "snv":
            ref, alt = seq[t], rng.choice([b for b in "ACGT" if b != seq[t]])
        elif kind == "ins":
            ins = "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 3)))
            ref, alt = seq[t], seq[t] + ins
            if ins[-1] == seq[t] or ins[0] == seq[t + 1]:
                continue                      # it could slide: the oracle below places it as written
        else:
            k = rng.randint(1, 3)
            ref, alt = seq[t:t + k + 1], seq[t]
            if seq[t] == seq[t + k] or seq[t + 1] == seq[t + k + 1]:
                continue
        break
    alleles, pos = [], t - 2 * w
    while pos < t + 2 * w:
        pos += rng.randint(2, 9)
        k = rng.randint(0, 3)
        if pos - 1 <= t + len(ref) and pos + k + 1 >= t:
            pos = t + len(ref) + 1
            continue
        q = "".join(rng.choice("ACGT") for _ in range(rng.randint(0 if k else 1, 3)))
        if seq[pos:pos + k] != q:
            alleles.append((pos, seq[pos:pos + k], q))
        pos += k
    allele = Allele(chrom="c", pos=t + 1, id=".", ref=ref, alt=alt, alt_index=0, kind=Kind.SNV)
    return MemGenome({"c": seq}), seq, allele, alleles


@pytest.mark.parametrize("mirror", [False, True])
def test_haplotype_windows_equal_the_windows_cut_from_the_spelled_haplotype(mirror):
    rng = random.Random(7 + mirror)
    w = 64
    for _ in range(300):
        genome, seq, allele, alleles = _random_target_case(rng, w)
        ref_w = small_window(genome, allele, w)
        assert ref_w.ok
        t, n, m = ref_w.s, ref_w.n, ref_w.m
        edits = [trim_edit(p, r, a) for p, r, a in alleles]
        sites = [Site(e.c, e.d, (e,)) for e in edits]
        p0, p1, ins = protected_span(genome, "c", ref_w, (t, t + n))
        lo, hi = read_span(ref_w, w, mirror)
        span = TargetSpan(p0, p1, ins, lo, hi, t - 2 * w, t + 2 * w)
        bad, up, down = walk(sites, [1] * len(sites), None, span)
        assert bad is None
        hw = small_window(HapGenome(genome, "c", up, down), allele, w)
        # the oracle: every allele of the haplotype applied, the windows cut by the definition
        hap, where = spell(seq, alleles)
        hs, o = where[t], w // 2
        a = allele.alt
        assert hw.ref == hap[hs - o:hs - o + w]
        assert hw.alt == hap[hs - o:hs] + a + hap[hs + n:hs + n + w - o - m]
        assert (hw.offset, hw.n, hw.m) == (o, n, m)
        # only the alleles the windows read are applied: each applied one changes them
        assert all(lo - 2 * w < e.c < hi + 2 * w for e in (*up, *down))
        if mirror:
            hr = mirror_small_window(HapGenome(genome, "c", up, down), allele, w, forward=hw)
            from glrm.windows import revcomp

            big = max(n, m)
            assert hr.ref == revcomp(hap[hs - o + n - big:hs - o + n - big + w])
            assert hr.alt == revcomp(hap[hs - o + m - big:hs] + a + hap[hs + n:hs + n + w - o - big])


def test_no_edits_give_score_vcf_windows_bit_for_bit():
    rng = random.Random(3)
    for _ in range(50):
        genome, _seq, allele, _ = _random_target_case(rng, 64)
        a, b = small_window(genome, allele, 64), small_window(HapGenome(genome, "c"), allele, 64)
        assert (a.ref, a.alt, a.offset, a.left, a.right) == (b.ref, b.alt, b.offset, b.left, b.right)


def test_alleles_outside_the_windows_are_not_applied():
    span = TargetSpan(100, 101, False, 68, 132, 0, 300)
    far_up, near_up = Edit(40, 41, "G"), Edit(80, 81, "T")
    near_down, far_down = Edit(120, 121, "A"), Edit(150, 151, "C")
    sites = [Site(e.c, e.d, (e,)) for e in (far_up, near_up, near_down, far_down)]
    assert walk(sites, [1, 1, 1, 1], None, span) == (None, (near_up,), (near_down,))
    # a 14-bp upstream deletion pulls the windows' left edge 14 bases further: the SNV at 60 is read now
    big = Edit(81, 95, "")
    sites = [Site(e.c, e.d, (e,)) for e in (far_up, Edit(60, 61, "C"), big)]
    bad, up, down = walk(sites, [1, 1, 1], None, span)
    assert bad is None and up == (big, Edit(60, 61, "C"))
    # an insertion upstream pushes the edge right: the 80 SNV falls out with a 20-base insertion at 90
    sites = [Site(e.c, e.d, (e,)) for e in (near_up, Edit(90, 90, "A" * 20))]
    assert walk(sites, [1, 1], None, span) == (None, (Edit(90, 90, "A" * 20),), ())


def test_walk_statuses():
    span = TargetSpan(100, 101, False, 68, 132, 0, 300)
    snv = Site(90, 91, (Edit(90, 91, "A"),))
    assert walk([snv], [MISSING], None, span)[0] is HapStatus.MISSING_GT
    assert walk([snv], [UNPHASED], None, span)[0] is HapStatus.UNPHASED
    assert walk([snv], [ABSENT], None, span)[0] is HapStatus.PLOIDY
    assert walk([snv], [POLYPLOID], None, span)[0] is HapStatus.PLOIDY
    far = Site(10, 11, (Edit(10, 11, "A"),))
    assert walk([far], [MISSING], None, span)[0] is None          # outside the windows: no matter
    sym = Site(95, 99, (HapStatus.SYMBOLIC_IN_WINDOW,))
    assert walk([sym], [1], None, span)[0] is HapStatus.SYMBOLIC_IN_WINDOW
    assert walk([sym], [0], None, span)[0] is None
    dele = Site(85, 92, (Edit(86, 92, ""),))
    assert walk([dele, snv], [1, 1], None, span)[0] is HapStatus.OVERLAP       # deletion over the SNV
    over_target = Site(99, 102, (Edit(99, 102, "GG"),))
    assert walk([over_target], [1], None, span)[0] is HapStatus.OVERLAP
    same_point = [Site(110, 110, (Edit(110, 110, "A"),)), Site(110, 110, (Edit(110, 110, "C"),))]
    assert walk(same_point, [1, 1], None, span)[0] is HapStatus.OVERLAP
    ins_target = TargetSpan(100, 101, True, 68, 132, 0, 300)
    at_point = [Site(101, 101, (Edit(101, 101, "T"),))]
    assert walk(at_point, [1], None, span)[0] is None
    assert walk(at_point, [1], None, ins_target)[0] is HapStatus.OVERLAP
    star = Site(95, 96, (None,))
    assert walk([star], [1], None, span) == (None, (), ())
    own = Site(100, 101, (Edit(100, 101, "T"),), at_target=True)
    assert walk([own], [1], None, span) == (None, (), ())        # the target's own site: never applied
    assert walk([own], [UNPHASED], None, span)[0] is HapStatus.UNPHASED
    # phase sets: two heterozygous sites of different sets in the windows
    a, b = Site(80, 81, (Edit(80, 81, "A"),)), Site(120, 121, (Edit(120, 121, "A"),))
    assert walk([a, b], [1, 0], [5, 9], span)[0] is HapStatus.UNPHASED
    assert walk([a, b], [1, 0], [5, 5], span)[0] is None
    assert walk([a, b], [1, 0], [5, NO_PHASE_SET], span)[0] is None
    # deletions that pull in reference past what the caller holds
    tight = TargetSpan(100, 101, False, 68, 132, 60, 140)
    assert walk([Site(70, 90, (Edit(70, 90, ""),))], [1], None, tight)[0] is HapStatus.BACKGROUND_TOO_LONG


def test_protected_span_covers_the_repeat_an_indel_slides_through():
    seq = "GATTACA" * 3 + "CG" + "AAAAA" + "TGCATGC" * 5
    g = MemGenome({"c": seq})
    run = seq.index("AAAAA")
    # delete one A of the run, written at its last base: left-aligned to the base before the run
    allele = Allele(chrom="c", pos=run + 4, id=".", ref="AA", alt="A", alt_index=0, kind=Kind.DEL)
    w = small_window(g, allele, 16)
    p0, p1, ins = protected_span(g, "c", w, (run + 3, run + 5))
    assert (w.s, w.e) == (run - 1, run + 1) and (p0, p1, ins) == (run - 1, run + 5, False)
    allele = Allele(chrom="c", pos=run, id=".", ref="G", alt="GA", alt_index=0, kind=Kind.INS)
    w = small_window(g, allele, 16)
    assert protected_span(g, "c", w, (run - 1, run)) == (run - 1, run + 5, True)


def test_gt_codes():
    assert gt_codes("0|1") == (0, 1) and gt_codes("1|0") == (1, 0) and gt_codes("2|1") == (2, 1)
    assert gt_codes("0/1") == (UNPHASED, UNPHASED)
    assert gt_codes("1/1") == (1, 1) and gt_codes("0/0") == (0, 0)
    assert gt_codes("./.") == (MISSING, MISSING) and gt_codes(".") == (MISSING, MISSING)
    assert gt_codes(".|1") == (MISSING, 1) and gt_codes("./1") == (MISSING, MISSING)
    assert gt_codes("1") == (1, ABSENT) and gt_codes("0") == (0, ABSENT)
    assert gt_codes("0|1|1") == (POLYPLOID, POLYPLOID)
    assert gt_codes("|1") == (1, ABSENT)
    with pytest.raises(ValueError):
        gt_codes("A|B")


def test_read_genotypes():
    cols = "c\t5\t.\tA\tG\t.\t.\t.\tGT:PS\t0|1:7\t1|1:7\t0|1\t./.:.\t.".split("\t")
    codes, sets = read_genotypes(cols, [0, 1, 2, 3, 4], 1, "x.vcf: line 3")
    assert codes.tolist() == [[0, 1], [1, 1], [0, 1], [MISSING, MISSING], [MISSING, MISSING]]
    assert sets.tolist() == [7, NO_PHASE_SET, DEFAULT_PHASE_SET, NO_PHASE_SET, NO_PHASE_SET]
    codes, sets = read_genotypes(cols, [1, 3], 1, "x")
    assert codes.dtype == np.int16 and codes.shape == (2, 2)
    cols[9] = "0|2:7"
    with pytest.raises(InputError, match="x.vcf: line 3: sample 1's GT '0|2' names allele 2"):
        read_genotypes(cols, [0], 1, "x.vcf: line 3")
    cols[9] = "0|1:abc"
    with pytest.raises(InputError, match="PS 'abc'"):
        read_genotypes(cols, [0], 1, "x.vcf: line 3")
