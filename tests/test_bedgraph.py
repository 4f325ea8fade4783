"""The bedGraph track writer/reader of `score-sv --track-dir`: rows in genome order as 1-bp intervals,
the `track` and `#glrm` header lines, a round trip of the metadata, atomic writes, and clear errors on bad
files."""

from __future__ import annotations

import numpy as np
import pytest

from glrm.errors import InputError
from glrm.io.bedgraph import TrackMeta, read_bedgraph, write_bedgraph


def meta(**kw):
    base = dict(name="sv1", chrom="20", window_start=100, window_end=164, event_start=130, event_end=140,
                mode="fits", bp=1, sv="DEL", vcf_id="Manta:1", vcf_pos=130, model="tiny", emb=0.0123,
                reach=7)
    base.update(kw)
    return TrackMeta(**base)


def test_round_trip(tmp_path):
    pos = np.array([139 + 5, 100, 129, 140, 101])          # unsorted on purpose
    val = np.array([0.5, 1.0, 2.25, 0.0, 3.0])
    path = write_bedgraph(tmp_path / "t.bedgraph", meta(), pos, val)
    text = path.read_text().splitlines()
    assert text[0].startswith('track type=bedGraph name="sv1"')
    assert text[1].startswith("#glrm ")
    assert text[2:] == ["20\t100\t101\t1", "20\t101\t102\t3", "20\t129\t130\t2.25", "20\t140\t141\t0",
                        "20\t144\t145\t0.5"]
    t = read_bedgraph(path)
    assert t.chrom == "20" and t.start.tolist() == [100, 101, 129, 140, 144]
    assert (t.end - t.start == 1).all() and t.value.tolist() == [1.0, 3.0, 2.25, 0.0, 0.5]
    assert t.meta == meta()
    assert [p.name for p in tmp_path.iterdir()] == ["t.bedgraph"]      # no temporary file left


def test_bnd_meta_and_quoting(tmp_path):
    m = meta(mode="bnd", mate="chr 7:1000", own_side="left", vcf_id="a b;c", emb=None, reach=None)
    path = write_bedgraph(tmp_path / "b.bedgraph", m, [1], [0.1])
    assert read_bedgraph(path).meta == m


def test_length_mismatch_and_failed_write_leave_nothing(tmp_path):
    target = tmp_path / "x.bedgraph"
    target.write_text("old\n")
    with pytest.raises(ValueError):
        write_bedgraph(target, meta(), [1, 2], [0.1])
    assert target.read_text() == "old\n" and len(list(tmp_path.iterdir())) == 1


def test_plain_bedgraph_reads_without_meta(tmp_path):
    p = tmp_path / "plain.bedgraph"
    p.write_text("browser position chr1:1-10\ntrack type=bedGraph\n# comment\n"
                 "chr1\t0\t5\t1.5\nchr1\t5\t9\t2\n")
    t = read_bedgraph(p)
    assert t.meta is None and t.start.tolist() == [0, 5] and t.end.tolist() == [5, 9]


@pytest.mark.parametrize("body, needle", [
    ("chr1\t0\t1\n", "line 1: a bedGraph row needs 4 columns"),
    ("chr1\t0\tx\t1\n", "line 1: start/end must be whole numbers"),
    ("chr1\t0\t1\t1\nchr2\t0\t1\t1\n", "rows on 2 contigs"),
    ("track type=bedGraph\n", "no data rows"),
    ("#glrm window_start=abc\nchr1\t0\t1\t1\n", "line 1: cannot read the #glrm line"),
])
def test_bad_files(tmp_path, body, needle):
    p = tmp_path / "bad.bedgraph"
    p.write_text(body)
    with pytest.raises(InputError, match=needle):
        read_bedgraph(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read the track"):
        read_bedgraph(tmp_path / "nope.bedgraph")
