"""bedGraph tracks of `glrm score-sv --track-dir`: the per-position embedding change of one SV (IGV-loadable).

Layout of a file:
    track type=bedGraph name="..." description="..." visibility=full autoScale=on graphType=bar
    #glrm chrom=20 window_start=... window_end=... event_start=... event_end=... mode=fits bp=1 sv=DEL ...
    20<TAB>start<TAB>end<TAB>value
One row per aligned reference position (0-based, 1-bp intervals: start = the genome position, end = start+1),
in increasing position order, on the record's own contig; `value` = ||h_alt - h_ref|| there (`%.6g`).
The `#glrm` line carries what `glrm plot` needs to draw the window and the event (IGV skips `#` lines):
`window_start/window_end` (the ref window, 0-based half-open), `event_start/event_end` (the replaced span
G[s:e]; s == e for insertions, duplications and BND junctions), `mode` (fits | breakpoint | bnd), `bp`,
`sv` (DEL, DUP, INV, INS, BND, ...), and for BND `mate` and `own_side` (which side of the junction is this
contig). Files are written atomically (temporary file, renamed when complete). No torch here.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from glrm.errors import InputError
from glrm.io.atomic import atomic_path

_INT_KEYS = ("window_start", "window_end", "event_start", "event_end", "bp", "vcf_pos", "reach")
_FLOAT_KEYS = ("emb",)


@dataclass
class TrackMeta:
    """What a track says about its SV (the `#glrm` header line)."""

    name: str
    chrom: str
    window_start: int
    window_end: int
    event_start: int
    event_end: int
    mode: str                    # fits | breakpoint | bnd
    bp: int = 1
    sv: str = ""
    vcf_id: str = "."
    vcf_pos: int = 0
    mate: str | None = None      # BND: mate chrom:pos (1-based)
    own_side: str | None = None  # BND: "left" or "right" of the junction is this contig
    model: str = ""
    emb: float | None = None
    reach: int | None = None


@dataclass
class Track:
    """A bedGraph read back: its metadata (None for a plain bedGraph without the #glrm line) and its rows."""

    chrom: str
    start: np.ndarray            # (N,) int64, 0-based
    end: np.ndarray              # (N,) int64
    value: np.ndarray            # (N,) float64
    meta: TrackMeta | None
    track_line: str


def _meta_line(meta: TrackMeta) -> str:
    parts = []
    for key, value in asdict(meta).items():
        if value is None:
            continue
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={shlex.quote(text)}")
    return "#glrm " + " ".join(parts)


def write_bedgraph(path: str | os.PathLike, meta: TrackMeta, positions, values) -> Path:
    """Write one track atomically. `positions`: genome positions (0-based) of the aligned ref bases;
    `values`: the change at each. Rows come out sorted by position; the two must have the same length."""
    pos = np.asarray(positions, dtype=np.int64).reshape(-1)
    val = np.asarray(values, dtype=np.float64).reshape(-1)
    if pos.shape != val.shape:
        raise ValueError(f"{len(pos)} positions but {len(val)} values for track {meta.name}")
    order = np.argsort(pos, kind="stable")
    pos, val = pos[order], val[order]
    desc = f"glrm {meta.sv} {meta.chrom}:{meta.vcf_pos} embedding change ||h_alt - h_ref|| ({meta.model})"
    head = (f'track type=bedGraph name="{_clean(meta.name)}" description="{_clean(desc)}" visibility=full '
            "autoScale=on graphType=bar\n" + _meta_line(meta) + "\n")
    chrom = meta.chrom
    with atomic_path(path, ".bedgraph") as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(head)
        step = 65536
        for i in range(0, len(pos), step):
            p, v = pos[i:i + step], val[i:i + step]
            fh.write("".join(f"{chrom}\t{a}\t{a + 1}\t{b:.6g}\n" for a, b in zip(p.tolist(), v.tolist(),
                                                                                strict=True)))
    return Path(path)


def _clean(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")


def read_bedgraph(path: str | os.PathLike) -> Track:
    """Read a bedGraph of one contig (glrm's, or any plain one); errors name the file and line."""
    path = str(path)
    chroms: set[str] = set()
    starts, ends, vals = [], [], []
    meta: TrackMeta | None = None
    track_line = ""
    try:
        fh = open(path, encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read the track ({e.strerror}); give a bedGraph file") from None
    with fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line or line.startswith("browser"):
                continue
            if line.startswith("track"):
                track_line = line
                continue
            if line.startswith("#glrm "):
                meta = _parse_meta(path, n, line)
                continue
            if line.startswith("#"):
                continue
            cols = line.split()
            if len(cols) < 4:
                raise InputError(f"{path}: line {n}: a bedGraph row needs 4 columns (chrom start end value); "
                                 f"got {len(cols)}")
            try:
                starts.append(int(cols[1]))
                ends.append(int(cols[2]))
                vals.append(float(cols[3]))
            except ValueError:
                raise InputError(f"{path}: line {n}: start/end must be whole numbers and value a number") \
                    from None
            chroms.add(cols[0])
    if len(chroms) > 1:
        raise InputError(f"{path}: rows on {len(chroms)} contigs ({', '.join(sorted(chroms))}); glrm plot "
                         "draws one contig: split the file per contig")
    if not starts:
        raise InputError(f"{path}: no data rows; give a bedGraph with at least one row")
    chrom = chroms.pop()
    return Track(chrom, np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64),
                 np.array(vals, dtype=np.float64), meta, track_line)


def _parse_meta(path: str, n: int, line: str) -> TrackMeta:
    known = {f.name for f in fields(TrackMeta)}
    items: dict[str, object] = {}
    try:
        for token in shlex.split(line[len("#glrm "):]):
            key, _, value = token.partition("=")
            if key not in known:
                continue
            items[key] = int(value) if key in _INT_KEYS else float(value) if key in _FLOAT_KEYS else value
        return TrackMeta(**items)
    except (ValueError, TypeError) as e:
        raise InputError(f"{path}: line {n}: cannot read the #glrm line ({e}); write it again with "
                         "glrm score-sv --track-dir, or drop the line") from None
