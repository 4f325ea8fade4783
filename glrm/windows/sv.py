"""Structural-variant windows (docs/definitions.md, "Structural variants (score-sv)"): edits, fits and
breakpoint modes, BND.

Every SV is one edit of the reference, replace G[s:e] by q, giving the alt haplotype H = G[:s] + q + G[e:].
Windows are sliced from G and H without ever building H or q in full: an event may span 10 Mbp and a window
1 Mbp, so only the pieces a window needs are fetched.

Pure like `glrm.windows.base`, the only part of the package it uses: no file I/O, no torch. Status precedence
as in `glrm.windows`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from glrm.defaults import DEFAULT_MAX_N_FRAC, DEFAULT_MAX_SV_LEN
from glrm.leftalign import left_align
from glrm.variants import Allele, Kind, Status
from glrm.windows.base import (
    EMPTY,
    FlankMap,
    Genome,
    Window,
    check_window,
    fail,
    flanks,
    n_content_note,
    normalize,
    past_end_note,
    ref_mismatch_note,
    revcomp,
    unknown_contig,
)

log = logging.getLogger(__name__)

SUPPORTED_SYMBOLIC = ("DEL", "INV", "DUP", "DUP:TANDEM", "INS")


@dataclass(frozen=True)
class Insert:
    """The new sequence q, lazily: literal bases, or G[start:end] forward or reverse-complemented."""

    length: int
    seq: str | None = None          # literal q
    chrom: str | None = None        # q = G[start:end] (or its reverse complement)
    start: int = 0
    rc: bool = False

    def slice(self, genome: Genome, i: int, j: int) -> str:
        """q[i:j], for 0 <= i <= j <= length."""
        if j <= i:
            return ""
        if self.seq is not None:
            return self.seq[i:j]
        assert self.chrom is not None
        if self.rc:   # revcomp(G[a:b])[i:j] = revcomp(G[b-j : b-i])
            b = self.start + self.length
            return revcomp(genome.fetch(self.chrom, b - j, b - i))
        return genome.fetch(self.chrom, self.start + i, self.start + j)


@dataclass(frozen=True)
class Edit:
    """Replace G[s:e] on `chrom` by q."""

    chrom: str
    s: int
    e: int
    q: Insert

    @property
    def k(self) -> int:
        return self.e - self.s

    @property
    def kp(self) -> int:
        return self.q.length

    def haplotype(self, genome: Genome, a: int, b: int) -> str:
        """H[a:b] with H = G[:s] + q + G[e:], N-padded past contig ends like G."""
        s, kp = self.s, self.kp
        parts = []
        if a < s:
            parts.append(genome.fetch(self.chrom, a, min(b, s)))
        if a < s + kp and b > s:
            parts.append(self.q.slice(genome, max(a, s) - s, min(b, s + kp) - s))
        if b > s + kp:
            lo = max(a, s + kp)
            parts.append(genome.fetch(self.chrom, lo - s - kp + self.e, b - s - kp + self.e))
        return "".join(parts)


def literal(seq: str) -> Insert:
    return Insert(len(seq), seq=seq)


def _ref_bases(allele: Allele) -> str:
    """The REF as bases (upper-case, non-ACGT -> N), or "" when it is missing ('.')."""
    return normalize(allele.ref) if allele.ref not in ("", ".") else ""


def _ref_ok(genome: Genome, chrom: str, allele: Allele) -> str | None:
    """SV REF rule: a REF of only Ns (or missing, '.') is accepted; any other REF must match the FASTA."""
    ref = _ref_bases(allele)
    if not ref or set(ref) == {"N"}:
        return None
    return ref_mismatch_note(genome, chrom, ref, allele.pos - 1)


def symbolic_end(allele: Allele) -> int | str:
    """END (1-based, inclusive) of a symbolic DEL/INV/DUP, or the reason there is none.

    END wins over SVLEN when both are given and disagree (whatever SVLEN's sign); the log says so.
    """
    end, svlen = allele.sv.end, allele.sv.svlen
    if end is None and svlen is None:
        return f"{allele.alt} has neither INFO/END nor INFO/SVLEN; add END"
    if end is None:
        assert svlen is not None
        return allele.pos + abs(svlen)
    if svlen is not None and abs(svlen) != end - allele.pos:
        log.warning("%s:%d %s: SVLEN=%d disagrees with END=%d (END - POS = %d); using END",
                    allele.chrom, allele.pos, allele.id, svlen, end, end - allele.pos)
    if end < allele.pos:
        return f"END={end} is before POS={allele.pos}; fix END"
    return end


def make_edit(genome: Genome, chrom: str, allele: Allele) -> Edit | str:
    """The edit (s, e, q) of a symbolic or spelled-out allele, or the reason it is unsupported."""
    pos0 = allele.pos - 1
    if allele.kind is Kind.SV_SYMBOLIC:
        inner = allele.alt.strip("<>").upper()
        if inner == "INS":
            if not allele.sv.insseq:
                return "symbolic <INS> without INFO/SVINSSEQ: the inserted sequence is unknown"
            return Edit(chrom, pos0 + 1, pos0 + 1, literal(normalize(allele.sv.insseq)))
        if inner not in SUPPORTED_SYMBOLIC:
            return (f"symbolic allele {allele.alt} is not an edit glrm can build; supported: "
                    + ", ".join(f"<{t}>" for t in SUPPORTED_SYMBOLIC) + ", spelled-out alleles and BND")
        chr2 = allele.sv.chr2
        if chr2 not in (None, ".") and genome.resolve(chr2) != chrom:
            return (f"INFO/CHR2={chr2} puts END on another contig than CHROM {allele.chrom}: {allele.alt} "
                    "is not an edit of one contig; write the event as a BND pair")
        end = symbolic_end(allele)
        if isinstance(end, str):
            return end
        s, e = allele.pos, end          # s = POS as a 0-based index (first base after the padding)
        if inner == "DEL":
            return Edit(chrom, s, e, literal(""))
        if inner == "INV":
            return Edit(chrom, s, e, Insert(e - s, chrom=chrom, start=s, rc=True))
        return Edit(chrom, e, e, Insert(e - s, chrom=chrom, start=s))   # DUP, DUP:TANDEM
    ref, alt = normalize(allele.ref), normalize(allele.alt)
    if not ref or allele.ref == ".":
        return f"REF is missing for spelled-out ALT {allele.alt}; write the REF bases"
    if ref == genome.fetch(chrom, pos0, pos0 + len(ref)):   # one haplotype, one form (else REF_MISMATCH)
        pos0, ref, alt = left_align(genome, chrom, pos0, ref, alt)
    if ref[0] == alt[:1]:
        return Edit(chrom, pos0 + 1, pos0 + len(ref), literal(alt[1:]))
    return Edit(chrom, pos0, pos0 + len(ref), literal(alt))


def fits(k: int, kp: int, w: int) -> bool:
    """Fits mode iff max(k, k') + 2F <= W with F = W // 8."""
    return max(k, kp) + 2 * (w // 8) <= w


def edit_windows(genome: Genome, edit: Edit, w: int,
                 max_n_frac: float = DEFAULT_MAX_N_FRAC) -> list[Window]:
    """One window pair over one genome span when the edit fits, else the left (bp 1) and right (bp 2)
    breakpoints.

    Fits: L = (W - max(k, k')) // 2 and R = W - max(k, k') - L reference bases on each side of the edit in
    both windows, ref = G[s-L : e+R] (L + k + R bases) and alt = G[s-L : s] + q + G[e : e+R] (L + k' + R),
    so every aligned flank base has the same outer context in both and only the edit differs.
    Breakpoints: W bases each, ref = G[r0 : r0+W], alt = H[a0 : a0+W] (r0 = a0 = s - W//2 on the left;
    r0 = e - W//2, a0 = s + k' - W//2 on the right)."""
    s, e, k, kp, h = edit.s, edit.e, edit.k, edit.kp, w // 2
    if fits(k, kp, w):
        left = (w - max(k, kp)) // 2
        right = w - max(k, kp) - left
        placements = [(0, s - left, s - left, left + k + right, left + kp + right)]
    else:
        placements = [(1, s - h, s - h, w, w), (2, e - h, s + kp - h, w, w)]
    bounds = (0, genome.length(edit.chrom))
    out = []
    for bp, r0, a0, wr, wa in placements:   # (bp, ref start, alt start, ref length, alt length)
        ref = genome.fetch(edit.chrom, r0, r0 + wr)
        note = n_content_note(ref, max_n_frac)
        if note:
            out.append(fail(Status.N_CONTENT, note, bp, edit.chrom))
            continue
        alt = edit.haplotype(genome, a0, a0 + wa)
        left_fm, right_fm = flanks(r0, a0, wr, wa, s, e, kp, bounds)
        out.append(Window(status=Status.OK, bp=bp, ref=ref, alt=alt, chrom=edit.chrom, ref_start=r0,
                          alt_start=a0, offset=s - r0 if bp == 0 else h, s=s, e=e, n=k, m=kp, left=left_fm,
                          right=right_fm))
    return out


def _bnd_anchor(allele: Allele) -> int:
    """How many bases of a breakend's `t` are its own contig's REF bases: all of REF when `t` starts (for
    t[p[, t]p]) or ends (]p]t, [p[t) with REF as written, else one base (docs/definitions.md, "Breakends")."""
    t, ref = normalize(allele.bnd.bases), _ref_bases(allele)
    own_left = allele.bnd.form in ("t[p[", "t]p]")
    return len(ref) if ref and (t.startswith(ref) if own_left else t.endswith(ref)) else 1


def inserted_bases(allele: Allele) -> str:
    """The bases S a breakend inserts at its junction (VCF 4.2 section 5.4): its `t` is the REF base(s) and
    then S in the forms t[p[ and t]p], S and then the REF base(s) in ]p]t and [p[t (`_bnd_anchor` says how
    many REF bases). Upper-case, non-ACGT -> N."""
    assert allele.bnd is not None
    t, anchor = normalize(allele.bnd.bases), _bnd_anchor(allele)
    return t[anchor:] if allele.bnd.form in ("t[p[", "t]p]") else t[:len(t) - anchor]


def bnd_window(genome: Genome, chrom: str, allele: Allele, w: int,
               max_n_frac: float = DEFAULT_MAX_N_FRAC) -> Window:
    """The BND window pair (VCF 4.2 section 5.4; docs/definitions.md, "Breakends"): W bases each, the
    junction J at W // 2, the inserted bases S (`inserted_bases`) between this contig's piece and the
    mate's."""
    b = allele.bnd
    if b is None:
        why = allele.reason or f"cannot read breakend {allele.alt}"
        return fail(Status.UNSUPPORTED_ALLELE, why, 1, chrom)
    mate = genome.resolve(b.mate_chrom)
    if mate is None:
        return fail(Status.UNKNOWN_CONTIG, f"mate contig {b.mate_chrom} of breakend {allele.alt} is not in "
                    "the FASTA", 1, chrom)
    note = (_ref_ok(genome, chrom, allele)
            or past_end_note(genome, chrom, allele.pos - 1, allele.pos - 1 + max(len(allele.ref), 1),
                             f"breakend {allele.alt}", telomere=True)
            or past_end_note(genome, mate, b.mate_pos0, b.mate_pos0 + 1,
                             f"the mate of breakend {allele.alt}", telomere=True))
    if note:
        return fail(Status.REF_MISMATCH, note, 1, chrom)
    ins = inserted_bases(allele)
    p, p0, h, d = allele.pos - 1, b.mate_pos0, w // 2, len(ins)
    if d > w // 8:
        return fail(Status.TOO_LONG, f"breakend {allele.alt} inserts {d} bases at its junction, above "
                    f"W//8 = {w // 8} for window {w}; use a longer --window", 1, chrom)
    own_left = b.form in ("t[p[", "t]p]")
    j = p + _bnd_anchor(allele) if own_left else p   # own contig kept up to and including its REF bases
    r0 = j - h
    ref = genome.fetch(chrom, r0, r0 + w)
    note = n_content_note(ref, max_n_frac)
    if note:
        return fail(Status.N_CONTENT, note, 1, chrom)
    if b.form == "t[p[":
        alt = genome.fetch(chrom, r0, j) + ins + genome.fetch(mate, p0, p0 + w - h - d)
    elif b.form == "t]p]":
        alt = genome.fetch(chrom, r0, j) + ins + revcomp(genome.fetch(mate, p0 + 1 - (w - h - d), p0 + 1))
    elif b.form == "]p]t":
        alt = genome.fetch(mate, p0 + 1 - (h - d), p0 + 1) + ins + genome.fetch(chrom, p, p + w - h)
    elif b.form == "[p[t":
        alt = revcomp(genome.fetch(mate, p0, p0 + h - d)) + ins + genome.fetch(chrom, p, p + w - h)
    else:
        return fail(Status.UNSUPPORTED_ALLELE, f"unknown breakend form {b.form!r} in {allele.alt}", 1, chrom)
    length = genome.length(chrom)
    if own_left:    # own contig G[j-h : j] at the same indices [0, h) in both windows
        lo, hi = max(r0, 0), min(j, length)
        left = FlankMap(lo - r0, lo - r0, hi - lo, j - lo, -1) if hi > lo else EMPTY
        right = EMPTY
    else:           # own contig G[j : j + w - h] at indices [h, w) in both
        lo, hi = max(j, 0), min(j + w - h, length)
        left = EMPTY
        right = FlankMap(lo - r0, lo - r0, hi - lo, lo - j + 1, 1) if hi > lo else EMPTY
    return Window(status=Status.OK, bp=1, ref=ref, alt=alt, chrom=chrom, ref_start=r0, alt_start=r0, offset=h,
                  s=j, e=j, n=0, m=d, left=left, right=right)


def sv_windows(genome: Genome, allele: Allele, w: int, max_n_frac: float = DEFAULT_MAX_N_FRAC,
               max_sv_len: int = DEFAULT_MAX_SV_LEN) -> list[Window]:
    """score-sv's windows for one ALT allele: one (fits mode, BND) or two (breakpoint mode)."""
    check_window(w)
    bnd_bp = 1 if allele.kind is Kind.BND else 0
    chrom = genome.resolve(allele.chrom)
    if chrom is None:
        return [unknown_contig(allele, bnd_bp)]
    if allele.kind is Kind.UNSUPPORTED:
        return [fail(Status.UNSUPPORTED_ALLELE, allele.reason or f"ALT {allele.alt} cannot be scored",
                     bnd_bp, chrom)]
    if allele.kind is Kind.BND:
        return [bnd_window(genome, chrom, allele, w, max_n_frac)]
    edit = make_edit(genome, chrom, allele)
    if isinstance(edit, str):
        return [fail(Status.UNSUPPORTED_ALLELE, edit, 0, chrom)]
    bps = (0,) if fits(edit.k, edit.kp, w) else (1, 2)
    if allele.kind is Kind.SV_SYMBOLIC:     # 1-based: the event's last base, or the padding base
        what, end = allele.alt, max(edit.e, allele.pos)
    else:
        what, end = "REF", allele.pos - 1 + len(allele.ref)
    note = _ref_ok(genome, chrom, allele) or past_end_note(genome, chrom, allele.pos - 1, end, what)
    if note:
        return [fail(Status.REF_MISMATCH, note, bp, chrom) for bp in bps]
    if max(edit.k, edit.kp) > max_sv_len:
        note = (f"event length {max(edit.k, edit.kp)} (k={edit.k}, k'={edit.kp}) is above --max-sv-len "
                f"{max_sv_len}; raise --max-sv-len to score it")
        return [fail(Status.TOO_LONG, note, bp, chrom) for bp in bps]
    return edit_windows(genome, edit, w, max_n_frac)
