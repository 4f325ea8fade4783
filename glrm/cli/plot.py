"""`glrm plot`: render an SV track (bedGraph from `glrm score-sv --track-dir`) as a PNG.

Thin: the work is in `glrm.pipeline.plot` (matplotlib is imported there, only when the command runs).
"""

from __future__ import annotations

import typer


def plot(
    track: str = typer.Argument(..., metavar="TRACK.bedgraph", help="A bedGraph from score-sv --track-dir."),
    output: str = typer.Option(..., "--output", "-o", metavar="OUT.png", help="The PNG to write."),
    title: str = typer.Option(None, "--title", help="Title. Default: the SV, its position and scores."),
    log_distance: bool = typer.Option(False, "--log-distance",
                                      help="x = distance to the event (log scale) instead of the position."),
    width: float = typer.Option(10.0, "--width", metavar="IN", help="Figure width in inches."),
    height: float = typer.Option(4.0, "--height", metavar="IN", help="Figure height in inches."),
    dpi: int = typer.Option(120, "--dpi", metavar="N", help="Resolution."),
) -> None:
    """Draw the per-position embedding change of one SV: the window, the event, both flanks.

    Needs matplotlib: make install includes it; else, in the glrm checkout,
    .venv/bin/pip install -e '.\\[plot]'.

    Example: glrm plot tracks/MantaDEL_1.bedgraph -o MantaDEL_1.png
    """
    from glrm.pipeline.plot import plot_track

    plot_track(track, output, title=title, log_distance=log_distance, width=width, height=height, dpi=dpi)
