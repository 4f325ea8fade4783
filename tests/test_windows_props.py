"""Property tests of the window builders on random genomes and random edits (hypothesis).

Each window is checked against a naive, fully materialised alt haplotype H = G[:s] + q + G[e:] with N padding,
and the flank maps against a brute-force enumeration of the genome positions present in both windows.
"""

from __future__ import annotations

from helpers import canonical_allele
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from glrm.variants import Allele, Kind, Status
from glrm.windows import revcomp, small_window
from glrm.windows.sv import Edit, Insert, edit_windows, literal


class MemGenome:
    def __init__(self, seq: str):
        self.seq = seq

    def resolve(self, chrom):
        return chrom if chrom == "c" else None

    def length(self, chrom):
        return len(self.seq)

    def fetch(self, chrom, start, end):
        return padded(self.seq, start, end)


def padded(seq, a, b):
    return "".join(seq[i] if 0 <= i < len(seq) else "N" for i in range(a, b))


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
bases = st.text(alphabet="ACGT", min_size=1, max_size=12)


@st.composite
def small_case(draw):
    seq = draw(st.text(alphabet="ACGTN", min_size=20, max_size=200))
    w = draw(st.integers(8, 160))
    n = draw(st.integers(1, min(w // 4, len(seq))))
    s = draw(st.integers(0, len(seq) - n))
    alt = draw(st.text(alphabet="ACGT", min_size=1, max_size=w // 4))
    return seq, w, s, seq[s:s + n], alt


@SETTINGS
@given(small_case())
def test_small_windows(case):
    seq, w, s, ref, alt = case
    kind = Kind.SNV if len(ref) == len(alt) == 1 else Kind.COMPLEX
    a = Allele("c", s + 1, ".", ref, alt, 0, kind)
    genome = MemGenome(seq)
    win = small_window(genome, a, w, max_n_frac=1.0)
    # the window is built from the left-aligned, trimmed allele (found here by brute force); one that would
    # have to move past the contig start keeps a right-anchored form, which the brute force cannot spell
    s, ref, alt = canonical_allele(genome, "c", s, ref, alt, margin=len(seq) + 1)
    assume(s >= 0)
    assert max(len(ref), len(alt)) <= w // 4                            # trimming never lengthens
    assert win.status is Status.OK
    o, n, m = w // 2, len(ref), len(alt)
    assert len(win.ref) == len(win.alt) == w
    assert win.ref == padded(seq, s - o, s - o + w)
    assert win.alt == padded(seq[:s] + alt + seq[s + n:] + "N" * w, s - o, s - o + w)
    assert win.ref[:o] == win.alt[:o]                                    # upstream identical
    assert list(win.left.ref_idx) == list(range(o))
    assert len(win.right) == w - o - max(n, m)
    for i, j in zip(win.right.ref_idx, win.right.alt_idx, strict=True):
        assert win.ref[i] == win.alt[j]
    if n == m == 1:
        diff = [i for i in range(w) if win.ref[i] != win.alt[i]]
        assert diff == ([] if ref == alt else [o])


@st.composite
def edit_case(draw):
    seq = draw(st.text(alphabet="ACGT", min_size=30, max_size=300))
    w = draw(st.integers(8, 128))
    s = draw(st.integers(0, len(seq)))
    e = draw(st.integers(s, min(len(seq), s + 2 * w)))
    q = draw(st.one_of(st.just(""), st.text(alphabet="ACGTN", max_size=2 * w)))
    return seq, w, s, e, q


def naive_alt(seq, s, e, q, a0, w):
    """H[a0 : a0 + w], H = G[:s] + q + G[e:], N left of 0 and past the end of H."""
    h = seq[:s] + q + seq[e:]
    return padded(h, a0, a0 + w)


def check(seq, win, w, s, e, q):
    assert win.status is Status.OK
    kp = len(q)
    if win.bp == 0:         # fits: one genome span, L + k + R and L + k' + R bases (the longer one W)
        L = (w - max(e - s, kp)) // 2
        R = w - max(e - s, kp) - L
        assert (win.ref_start, win.alt_start) == (s - L, s - L)
        assert (len(win.ref), len(win.alt)) == (L + e - s + R, L + kp + R)
    else:
        assert len(win.ref) == len(win.alt) == w
    wr, wa = len(win.ref), len(win.alt)
    assert win.ref == padded(seq, win.ref_start, win.ref_start + wr)
    assert win.alt == naive_alt(seq, s, e, q, win.alt_start, wa)
    r0, a0 = win.ref_start, win.alt_start
    left = [(g - r0, g - a0, s - g) for g in range(len(seq))
            if g < s and r0 <= g < r0 + wr and a0 <= g < a0 + wa]
    right = [(g - r0, g - e + s + kp - a0, g - e + 1) for g in range(len(seq))
             if g >= e and r0 <= g < r0 + wr and 0 <= g - e + s + kp - a0 < wa]
    assert list(zip(win.left.ref_idx, win.left.alt_idx, win.left.distance, strict=True)) == left
    assert list(zip(win.right.ref_idx, win.right.alt_idx, win.right.distance, strict=True)) == right
    for i, j, _ in left + right:
        assert win.ref[i] == win.alt[j]                                   # aligned pairs: same base


@SETTINGS
@given(edit_case())
def test_edit_windows_match_naive_haplotype(case):
    seq, w, s, e, q = case
    genome = MemGenome(seq)
    wins = edit_windows(genome, Edit("c", s, e, literal(q)), w, max_n_frac=1.0)
    fits = max(e - s, len(q)) + 2 * (w // 8) <= w
    assert [x.bp for x in wins] == ([0] if fits else [1, 2])
    for win in wins:
        check(seq, win, w, s, e, q)


@SETTINGS
@given(edit_case())
def test_identity_edit_gives_alt_equal_ref(case):
    seq, w, s, e, _ = case
    for win in edit_windows(MemGenome(seq), Edit("c", s, e, literal(seq[s:e])), w, max_n_frac=1.0):
        assert win.alt == win.ref


@SETTINGS
@given(edit_case())
def test_inversion_twice_is_identity(case):
    seq, w, s, e, _ = case
    genome = MemGenome(seq)
    inv = Edit("c", s, e, Insert(e - s, chrom="c", start=s, rc=True))
    once = edit_windows(genome, inv, w, max_n_frac=1.0)
    for win in once:
        check(seq, win, w, s, e, revcomp(seq[s:e]))
    h = inv.haplotype(genome, 0, len(seq))                               # the inverted haplotype, in full
    assert len(h) == len(seq)
    again = edit_windows(MemGenome(h), Edit("c", s, e, Insert(e - s, chrom="c", start=s, rc=True)), w,
                         max_n_frac=1.0)
    assert [x.alt for x in again] == [x.ref for x in edit_windows(genome, Edit("c", s, e, literal(seq[s:e])),
                                                                   w, max_n_frac=1.0)]
    assert [x.alt for x in again] == [padded(seq, x.ref_start, x.ref_start + len(x.ref)) for x in again]


class TwoContigs:
    def __init__(self, own: str, mate: str):
        self.seqs = {"c": own, "m": mate}

    def resolve(self, chrom):
        return chrom if chrom in self.seqs else None

    def length(self, chrom):
        return len(self.seqs[chrom])

    def fetch(self, chrom, start, end):
        return padded(self.seqs[chrom], start, end)


@SETTINGS
@given(st.text(alphabet="ACGT", min_size=1, max_size=150), st.text(alphabet="ACGT", min_size=1, max_size=150),
       st.integers(8, 100), st.sampled_from(["t[p[", "t]p]", "]p]t", "[p[t"]), st.data())
def test_breakends(own, mate, w, form, data):
    from glrm.variants import Breakend
    from glrm.windows.sv import sv_windows

    p = data.draw(st.integers(0, len(own) - 1))
    p0 = data.draw(st.integers(-5, len(mate)))   # up to N + 1 (the telomere); past it is REF_MISMATCH
    a = Allele("c", p + 1, ".", own[p], "bnd", 0, Kind.BND, bnd=Breakend(form, "m", p0, own[p]))
    (win,) = sv_windows(TwoContigs(own, mate), a, w, max_n_frac=1.0)
    h = w // 2
    j = p + 1 if form in ("t[p[", "t]p]") else p
    assert win.status is Status.OK and win.bp == 1
    assert win.ref == padded(own, j - h, j - h + w) and len(win.alt) == w
    if form in ("t[p[", "t]p]"):          # own contig up to the junction, then the mate
        assert win.alt[:h] == win.ref[:h]
        mate_part = (padded(mate, p0, p0 + w - h) if form == "t[p[" else
                     revcomp(padded(mate, p0 + 1 - (w - h), p0 + 1)))
        assert win.alt[h:] == mate_part
    else:                                  # the mate, then own contig from the junction
        assert win.alt[h:] == win.ref[h:]
        mate_part = (padded(mate, p0 + 1 - h, p0 + 1) if form == "]p]t" else
                     revcomp(padded(mate, p0, p0 + h)))
        assert win.alt[:h] == mate_part
    pairs = list(zip(win.left.ref_idx, win.left.alt_idx, strict=True)) + \
        list(zip(win.right.ref_idx, win.right.alt_idx, strict=True))
    own_idx = [g - (j - h) for g in range(len(own)) if j - h <= g < j + w - h
               and ((g < j) if form in ("t[p[", "t]p]") else (g >= j))]
    assert [i for i, _ in pairs] == own_idx and all(i == k for i, k in pairs)
