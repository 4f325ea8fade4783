"""`glrm plot`: a PNG from a track for each event layout (fits-mode span, breakpoint, BND junction, a plain
bedGraph), the --log-distance view, the output-name check, and the message when matplotlib is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from glrm.cli.main import main
from glrm.errors import InputError
from glrm.io.bedgraph import TrackMeta, write_bedgraph
from glrm.pipeline.plot import check_png, plot_track, reach_sides

PNG = b"\x89PNG\r\n\x1a\n"


def track(tmp_path, mode, **kw):
    w0, w1, s, e = 10_000, 10_512, 10_200, 10_300
    if mode == "breakpoint":
        s, e = 5_000, 10_256
    if mode == "bnd":
        s = e = 10_256
    m = TrackMeta(name=mode, chrom="20", window_start=w0, window_end=w1, event_start=s, event_end=e,
                  mode=mode, bp=2 if mode == "breakpoint" else 1, sv="BND" if mode == "bnd" else "DEL",
                  vcf_id="x", vcf_pos=s, model="tiny", emb=0.05, reach=40,
                  mate="7:1000" if mode == "bnd" else None, own_side="left" if mode == "bnd" else None, **kw)
    pos = np.array([g for g in range(w0, w1) if g < s or g >= e])
    if mode == "bnd":
        pos = pos[pos < s]
    d = np.exp(-np.minimum(np.abs(pos - s), np.abs(pos - e)) / 50.0)
    return write_bedgraph(tmp_path / f"{mode}.bedgraph", m, pos, d)


@pytest.mark.parametrize("mode", ["fits", "breakpoint", "bnd"])
def test_png_for_each_layout(tmp_path, mode):
    out = plot_track(track(tmp_path, mode), tmp_path / f"{mode}.png")
    data = open(out, "rb").read()
    assert data[:8] == PNG and len(data) > 10_000


def test_cli_log_distance_and_title(tmp_path):
    out = tmp_path / "log.png"
    assert main(["plot", str(track(tmp_path, "fits")), "-o", str(out), "--log-distance", "--title", "x"]) == 0
    assert check_png(str(out))


def test_plain_bedgraph(tmp_path):
    p = tmp_path / "plain.bedgraph"
    p.write_text("track type=bedGraph\nchr1\t0\t5\t1.5\nchr1\t5\t9\t2\n")
    assert check_png(plot_track(p, tmp_path / "plain.png"))


def test_output_must_be_png(tmp_path, capsys):
    assert main(["plot", str(track(tmp_path, "fits")), "-o", str(tmp_path / "x.pdf")]) != 0
    assert "PNG" in capsys.readouterr().err and not (tmp_path / "x.pdf").exists()


def test_missing_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import matplotlib -> ImportError
    with pytest.raises(InputError, match=r"\.venv/bin/pip install -e '\.\[plot\]'"):
        plot_track(track(tmp_path, "fits"), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_long_tracks_keep_their_peaks():
    """A 1-bp peak among 1,000,000 positions survives the per-bin maximum the plot draws."""
    from glrm.pipeline.plot import _envelope

    x = np.arange(1_000_000, dtype=float)
    y = np.zeros_like(x)
    y[777_777] = 5.0
    xs, ys = _envelope(x, y, 4000)
    assert len(xs) <= 4001 and ys.max() == 5.0 and xs[ys.argmax()] <= 777_777 < xs[ys.argmax()] + 251
    assert _envelope(x[:10], y[:10], 4000)[0] is not None and len(_envelope(x[:10], y[:10], 4000)[0]) == 10


def test_reach_is_marked_only_on_flanks_that_change(tmp_path):
    """A causal model's left flank is exactly 0 in fits mode: no REACH line is drawn there."""
    from glrm.io.bedgraph import read_bedgraph

    assert reach_sides(read_bedgraph(track(tmp_path, "fits"))) == (True, True)
    m = TrackMeta(name="causal", chrom="20", window_start=0, window_end=100, event_start=40, event_end=50,
                  mode="fits", bp=1, sv="DEL", vcf_id="x", vcf_pos=40, model="tiny", emb=0.05, reach=3)
    pos = np.r_[0:40, 50:100]
    change = np.where(pos < 40, 0.0, np.exp(-(pos - 50) / 2.0))
    path = write_bedgraph(tmp_path / "causal.bedgraph", m, pos, change)
    assert reach_sides(read_bedgraph(path)) == (False, True)
    assert check_png(plot_track(path, tmp_path / "causal.png", log_distance=True))
