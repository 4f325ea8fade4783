"""`glrm plot`: draw one SV track (a bedGraph of `glrm score-sv --track-dir`) as a PNG.

The picture: the embedding change ||h_alt - h_ref|| along the genome over the ref window (x: genome position
in Mb or kb; y: the change), the left flank and the right flank in two colours, the event drawn from the
track's `#glrm` line (a shaded span for the replaced bases G[s:e], a vertical line at each breakpoint or
junction; for BND the side joined to the mate is hatched), GLRM_SV_REACH marked as dotted lines on the flanks
that carry the change, and a title naming the SV. `log_distance` draws the change against the distance to the
event instead (log scale, left flank mirrored to negative values), which shows how far the effect reaches on
both flanks.

matplotlib is an optional dependency (the `plot` extra: `pip install -e '.[plot]'` in the checkout), imported
only here, with the Agg backend.
A plain bedGraph without the `#glrm` line is drawn too, without the event.
"""

from __future__ import annotations

import os

import numpy as np

from glrm.errors import InputError, OutputError
from glrm.io.atomic import atomic_path, check_writable
from glrm.io.bedgraph import Track, read_bedgraph

LEFT, RIGHT, OTHER = "#1f77b4", "#d62728", "#555555"
MAX_POINTS = 4000   # longer flanks are drawn as the maximum per bin, so 1-bp peaks stay visible at 1 Mbp


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise InputError("glrm plot needs matplotlib, which is not installed; install it from the glrm "
                         "checkout with .venv/bin/pip install -e '.[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _unit(span: int) -> tuple[float, str]:
    if span >= 2_000_000:
        return 1e6, "Mb"
    if span >= 2_000:
        return 1e3, "kb"
    return 1.0, "bp"


def plot_track(path: str | os.PathLike, out: str | os.PathLike, title: str | None = None,
               log_distance: bool = False, width: float = 10.0, height: float = 4.0, dpi: int = 120) -> str:
    """Render the track at `path` into the PNG `out` (written atomically); return `out`."""
    out = str(out)
    if not out.lower().endswith(".png"):
        raise OutputError(f"{out}: glrm plot writes PNG; give an output name ending in .png")
    check_writable(out)
    track = read_bedgraph(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width, height), dpi=dpi)
    try:
        if log_distance and track.meta is not None:
            _draw_distance(ax, track)
        else:
            _draw_genome(ax, track)
        ax.set_title(title if title is not None else _title(track, path), fontsize=11)
        binned = " (max per bin)" if len(track.start) > MAX_POINTS else ""
        ax.set_ylabel("embedding change ||h_alt - h_ref||" + binned)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
        fig.tight_layout()
        with atomic_path(out, ".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return out


def _title(track: Track, path) -> str:
    m = track.meta
    if m is None:
        return os.path.basename(str(path))
    what = f"{m.sv} {m.vcf_id if m.vcf_id not in ('', '.') else ''}".strip()
    where = f"{m.chrom}:{m.vcf_pos:,}"
    mode = {"fits": "fits mode (one window)", "breakpoint": f"breakpoint {m.bp} of 2",
            "bnd": f"junction with {m.mate}"}.get(m.mode, m.mode)
    scores = []
    if m.emb is not None:
        scores.append(f"SV_EMB {m.emb:.3g}")
    if m.reach is not None:
        scores.append(f"REACH {m.reach:,} bp")
    return f"{what} at {where}: {mode}" + (f"  [{', '.join(scores)}]" if scores else "")


def _draw_genome(ax, track: Track) -> None:
    m = track.meta
    lo = m.window_start if m else int(track.start.min())
    hi = m.window_end if m else int(track.end.max())
    scale, unit = _unit(hi - lo)
    x = track.start / scale
    if m is None:
        ax.plot(x, track.value, color=OTHER, lw=0.8, label="change")
    else:
        left = track.start < m.event_start
        right = track.start >= m.event_end
        share = MAX_POINTS / max(1, len(x))
        for mask, colour, label in ((left, LEFT, "left flank"), (right, RIGHT, "right flank"),
                                    (~(left | right), OTHER, "other")):
            if mask.any():
                xs, ys = _envelope(x[mask], track.value[mask], max(2, int(share * mask.sum())))
                ax.fill_between(xs, ys, step="mid", color=colour, alpha=0.25, lw=0)
                ax.plot(xs, ys, color=colour, lw=0.8, label=label)
        _draw_event(ax, m, scale, *reach_sides(track))
    ax.set_xlim(lo / scale, hi / scale)
    ax.set_xlabel(f"position on {track.chrom} ({unit}, 0-based)")
    ax.ticklabel_format(axis="x", useOffset=False, style="plain")


def _envelope(x, y, n: int):
    """At most about `n` points: the maximum of `y` over `n` equal bins of the (increasing) `x`, placed at the
    bin's first x. Points are kept as they are when there are `n` or fewer."""
    if len(x) <= n:
        return x, y
    edges = np.linspace(x[0], x[-1], n + 1)
    starts = np.unique(np.searchsorted(x, edges[:-1], side="left"))
    return x[starts], np.maximum.reduceat(y, starts)


def reach_sides(track: Track) -> tuple[bool, bool]:
    """Whether the left and the right flank carry the effect GLRM_SV_REACH measures: a change of at least 10%
    of the track's largest. The REACH line is drawn only there (a causal model's left flank, exactly 0, gets
    none)."""
    m = track.meta
    if m is None or len(track.value) == 0:
        return False, False
    level = 0.1 * float(np.max(track.value))
    strong = track.value >= level if level > 0 else np.zeros(len(track.value), bool)
    return bool(strong[track.start < m.event_start].any()), bool(strong[track.start >= m.event_end].any())


def _draw_event(ax, m, scale: float, reach_left: bool, reach_right: bool) -> None:
    lo, hi = m.window_start, m.window_end
    s, e = max(m.event_start, lo), min(m.event_end, hi)
    if m.mode == "bnd":
        j = m.event_start
        other = (j, hi) if m.own_side == "left" else (lo, j)
        ax.axvspan(other[0] / scale, other[1] / scale, facecolor="none", edgecolor="#999999", hatch="//",
                   lw=0, label=f"joined to mate {m.mate}")
        ax.axvline(j / scale, color="black", lw=1.2, label="junction")
    else:
        if e > s:
            ax.axvspan(s / scale, e / scale, color="#ffbf00", alpha=0.3, lw=0,
                       label=f"{m.sv} span ({m.event_end - m.event_start:,} bp)")
        label = "breakpoint"
        for g in sorted({m.event_start, m.event_end}):
            if lo <= g <= hi:
                ax.axvline(g / scale, color="black", lw=1.0, ls="-", label=label)
                label = None
    if m.reach:   # distance s - g on the left flank, g - e + 1 on the right
        for g, side in ((m.event_start - m.reach, reach_left), (m.event_end + m.reach - 1, reach_right)):
            if side and lo <= g <= hi:
                ax.axvline(g / scale, color="#2ca02c", lw=1.0, ls=":")
        ax.plot([], [], color="#2ca02c", ls=":", label=f"reach {m.reach:,} bp")


def _draw_distance(ax, track: Track) -> None:
    m = track.meta
    left = track.start < m.event_start
    right = track.start >= m.event_end
    share = MAX_POINTS / max(1, len(track.start))
    if left.any():
        d = (m.event_start - track.start[left]).astype(float)[::-1]
        xs, ys = _envelope(np.log10(d), track.value[left][::-1], max(2, int(share * left.sum())))
        ax.plot(-(10 ** xs), ys, color=LEFT, lw=0.8, label="left flank")
    if right.any():
        d = (track.start[right] - m.event_end + 1).astype(float)
        xs, ys = _envelope(np.log10(d), track.value[right], max(2, int(share * right.sum())))
        ax.plot(10 ** xs, ys, color=RIGHT, lw=0.8, label="right flank")
    ax.set_xscale("symlog", linthresh=1)
    ax.axvline(0, color="black", lw=1.0, label="event")
    if m.reach:
        for sign, drawn in zip((-1, 1), reach_sides(track), strict=True):
            if drawn:
                ax.axvline(sign * m.reach, color="#2ca02c", lw=1.0, ls=":")
        ax.plot([], [], color="#2ca02c", ls=":", label=f"reach {m.reach:,} bp")
    ax.set_xlabel("distance to the event (bp; left flank negative, log scale)")


def check_png(path: str) -> bool:
    """True when `path` starts with the PNG signature."""
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n"



