"""One module per command, joining the steps (io readers, windows, models, scoring, io writers).

The Typer commands in `glrm.cli` stay thin and call these with the command's options (`options.py`); nothing
here parses command lines (only the values of --scores, --batch-size and --chunk-size, in `options.py`).
"""
