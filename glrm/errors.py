"""User-facing errors. Each message names the file/record and says the fix, on one line."""


class GlrmError(Exception):
    """An error the CLI reports as one line on stderr with a non-zero exit (no traceback)."""

    exit_code = 2


class InputError(GlrmError):
    """Bad or unreadable input (FASTA, VCF, BED, checkpoint)."""


class OutputError(GlrmError):
    """The output cannot be written."""
