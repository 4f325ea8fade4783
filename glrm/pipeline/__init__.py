"""One module per command, joining the steps (io readers, windows, models, scoring, io writers).

The Typer commands in `glrm.cli` stay thin and call these; nothing here parses command lines.
"""
