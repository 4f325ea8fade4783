"""The defaults and allowed values of glrm's options, each written once, and the checks of the values that
more than one layer takes. The CLI's defaults, the options of `glrm.pipeline.options`, the window builders
and the scoring engines all read them here (the options: docs/score-vcf.md, docs/score-sv.md, docs/plan.md).

A leaf: it imports only `glrm.errors`, so every layer may use it and `glrm --help` stays instant.
Each check raises an InputError in the words of the command-line option, whoever passed the value.
"""

from __future__ import annotations

from glrm.errors import InputError

AUTO = "auto"                      # --device, --batch-size, --chunk-size: glrm picks (device, free memory)

# --- defaults ---------------------------------------------------------------------------------------------
DEFAULT_DEVICE = AUTO              # cuda when available, else cpu
DEFAULT_PRECISION = "fp32"
DEFAULT_BATCH_SIZE = AUTO          # as the command line gives it; the options hold None for it
DEFAULT_RC = "none"
DEFAULT_EMB_FLANK = 768            # K: GLRM_EMB and GLRM_SV_EMB average over the variant +- K bases
DEFAULT_MAX_N_FRAC = 0.05          # N_CONTENT above this fraction of N in a ref window
DEFAULT_MAX_SV_LEN = 10_000_000    # TOO_LONG above this many bases deleted or inserted
DEFAULT_SCORES: tuple[str, ...] = ("llr", "cllr", "mlr", "emb")   # score-vcf --scores
DEFAULT_REF_MISMATCH = "status"
DEFAULT_HAP_SCORES_CAUSAL: tuple[str, ...] = ("cllr",)   # score-haplotypes --scores: the model's main score
DEFAULT_HAP_SCORES_MASKED: tuple[str, ...] = ("mlr",)

# --- allowed values -----------------------------------------------------------------------------------------
PRECISIONS = ("fp32", "bf16")
RC_MODES = ("none", "mean")
REF_MISMATCH_MODES = ("status", "error")


# --- checks ------------------------------------------------------------------------------------------------

def check_choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    """`value` is one of `allowed`, else `--option 'x': use a or b`."""
    if value not in allowed:
        raise InputError(f"{option} {value!r}: use {' or '.join(allowed)}")


def check_precision(precision: str) -> None:
    check_choice("--precision", precision, PRECISIONS)


def check_rc(rc: str) -> None:
    check_choice("--rc", rc, RC_MODES)


def check_emb_flank(k: int) -> None:
    if k < 0:
        raise InputError(f"--emb-flank {k}: give 0 or more bases")


def check_max_n_frac(frac: float) -> None:
    if not 0.0 <= frac <= 1.0:
        raise InputError(f"--max-n-frac {frac:g} is not a fraction; give a value from 0 to 1")


def check_max_sv_len(n: int) -> None:
    if n < 1:
        raise InputError(f"--max-sv-len {n}: give 1 or more bases")


def check_threads(n: int | None) -> None:
    """None (the CPUs this process may use) or 1 or more."""
    if n is not None and n < 1:
        raise InputError(f"--threads {n}: give 1 or more, or leave it out (the CPUs this process may use)")


def check_batch_size(n: int | None) -> None:
    """None (auto) or 1 or more windows per forward pass."""
    if n is not None and (not isinstance(n, int) or n < 1):
        raise InputError(f"--batch-size {n!r}: give 'auto' or 1 or more")


def check_chunk_size(chunk: int | str | None, auto: bool = True) -> None:
    """None (the whole window in one pass), 'auto' (where `auto` allows it) or 1 or more tokens."""
    if chunk is None or (auto and chunk == AUTO):
        return
    if not isinstance(chunk, int) or chunk < 1:
        unit = "'auto' or 1 or more tokens" if auto else "1 or more tokens ('auto' is resolved before this)"
        raise InputError(f"--chunk-size {chunk!r}: give {unit}")
