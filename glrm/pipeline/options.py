"""The options of glrm's commands as data: one dataclass per command, on shared bases, each with one
`validate()` (the values only: no file is read or written), and the parsing of the option texts of the
command line. Defaults and allowed values come from `glrm.defaults`; the options: docs/score-vcf.md,
docs/score-sv.md, docs/plan.md, docs/windows.md.

    ModelOptions       a model run on windows: model, window, device, precision, chunk, threads
    ReadOptions        a VCF read against a FASTA: input, fasta, regions, --max-n-frac, ...
    ScoreOptions       both, plus the outputs and what score-vcf and score-sv share (--rc, --emb-flank, ...)
      ScoreVcfOptions  glrm score-vcf
      ScoreSvOptions   glrm score-sv
      ScoreHaplotypesOptions  glrm score-haplotypes
    PlanOptions        glrm plan (a ModelOptions)
    WindowsOptions     glrm windows (a ReadOptions)

A command builds its options with `from_cli(Options, ctx.params, ...)`: its Typer parameters are named as the
fields. `ScoreOptions.command_line` is what ##glrmCommand records; None (a call from Python) records this
process's own command line (`glrm.io.vcf_writer.default_command`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any, TypeVar

from glrm.defaults import (
    AUTO,
    DEFAULT_DEVICE,
    DEFAULT_EMB_FLANK,
    DEFAULT_MAX_N_FRAC,
    DEFAULT_MAX_SV_LEN,
    DEFAULT_PRECISION,
    DEFAULT_RC,
    DEFAULT_REF_MISMATCH,
    DEFAULT_SCORES,
    REF_MISMATCH_MODES,
    check_batch_size,
    check_choice,
    check_chunk_size,
    check_emb_flank,
    check_max_n_frac,
    check_max_sv_len,
    check_precision,
    check_rc,
    check_threads,
)
from glrm.errors import InputError, OutputError
from glrm.io.fields import SCORE_FIELDS, check_scores
from glrm.pipeline.shard import parse_shard
from glrm.windows import check_window


@dataclass
class ModelOptions:
    """A model run on windows of W tokens: what score-vcf, score-sv and plan share."""

    model: str                           # a checkpoint folder or a known model name
    _: KW_ONLY
    window: int | None = None            # None = the model's trained context
    device: str = DEFAULT_DEVICE
    precision: str = DEFAULT_PRECISION
    chunk_size: int | str | None = None  # tokens per chunk, 'auto' (from free memory), or None = one pass
    threads: int | None = None           # torch CPU threads; None = the CPUs this process may use

    def validate(self) -> None:
        if self.window is not None:
            check_window(self.window)
        check_precision(self.precision)
        check_chunk_size(self.chunk_size)
        check_threads(self.threads)


@dataclass(kw_only=True)
class ReadOptions:
    """A VCF/BCF read against a FASTA and cut into windows: what score-vcf, score-sv and windows share."""

    input: str                           # '-' = stdin
    fasta: str
    regions: str | None = None           # -r chr:beg-end[,...]
    regions_file: str | None = None      # -R BED
    max_n_frac: float = DEFAULT_MAX_N_FRAC
    ignore_contig_length: bool = False   # accept ##contig lengths that differ from the FASTA's (warn instead)

    def validate(self) -> None:
        check_max_n_frac(self.max_n_frac)
        if self.regions is not None and self.regions_file is not None:
            raise InputError("give either -r/--regions or -R/--regions-file, not both")


@dataclass(kw_only=True)
class ScoreOptions(ReadOptions, ModelOptions):
    """What score-vcf and score-sv share: the inputs, the model, the outputs and the run."""

    output: str = "-"                    # '-' = stdout
    bed: str | None = None
    output_type: str | None = None       # v|z|b|u; None = from the output name
    rc: str = DEFAULT_RC
    emb_flank: int = DEFAULT_EMB_FLANK
    quiet: bool = False
    no_version: bool = False
    command_line: str | None = None      # for ##glrmCommand; None = this process's own command line
    shard: str | None = None             # 'i/n': score only shard i of n (glrm.pipeline.shard)
    resume: bool = False                 # checkpoint beside the output; continue one (glrm.pipeline.resume)

    def validate(self) -> None:
        ReadOptions.validate(self)
        ModelOptions.validate(self)
        check_rc(self.rc)
        check_emb_flank(self.emb_flank)
        if self.output == "-" and self.bed == "-":
            raise OutputError("-o - and --bed - both write to stdout; send one of them to a file")
        parse_shard(self.shard)
        if self.shard is not None and self.input == "-":
            raise InputError("--shard needs a file: stdin cannot be read twice (once to count the records); "
                             "save the VCF to a file first, or drop --shard")


@dataclass(kw_only=True)
class ScoreVcfOptions(ScoreOptions):
    """The options of `glrm score-vcf` (docs/score-vcf.md)."""

    scores: tuple[str, ...] = DEFAULT_SCORES
    batch_size: int | None = None        # windows per forward pass; None = auto
    ref_mismatch: str = DEFAULT_REF_MISMATCH
    tile: bool = False                   # windows are tiles shared by their variants (docs/performance.md)

    def validate(self) -> None:
        super().validate()
        check_scores(self.scores, self.tile)
        check_choice("--ref-mismatch", self.ref_mismatch, REF_MISMATCH_MODES)
        check_batch_size(self.batch_size)


@dataclass(kw_only=True)
class ScoreSvOptions(ScoreOptions):
    """The options of `glrm score-sv` (docs/score-sv.md)."""

    max_sv_len: int = DEFAULT_MAX_SV_LEN
    track_dir: str | None = None         # one bedGraph per scored SV; created when missing

    def validate(self) -> None:
        super().validate()
        check_max_sv_len(self.max_sv_len)


@dataclass(kw_only=True)
class ScoreHaplotypesOptions(ScoreOptions):
    """The options of `glrm score-haplotypes` (docs/score-haplotypes.md). `input` is the phased VCF the
    backgrounds come from (and, without `targets`, the targets)."""

    scores: tuple[str, ...] | None = None  # None = the model's main score (glrm.io.fields.main_score)
    batch_size: int | None = None
    ref_mismatch: str = DEFAULT_REF_MISMATCH
    tile: bool = False
    targets: str | None = None             # a VCF whose records are the targets (written out, annotated)
    samples: str | None = None             # -s: sample names, comma-separated
    samples_file: str | None = None        # -S: a file with one sample name a line
    dedup: bool = True                     # False: every haplotype scored on its own (for comparisons)

    def validate(self) -> None:
        super().validate()
        if self.scores is not None:
            check_scores(self.scores, self.tile)
        check_choice("--ref-mismatch", self.ref_mismatch, REF_MISMATCH_MODES)
        check_batch_size(self.batch_size)
        if self.shard is not None or self.resume:
            raise InputError("score-haplotypes takes no --shard or --resume: each target needs the records "
                             "around it; split the work by region (-r/-R) instead")
        if self.samples is not None and self.samples_file is not None:
            raise InputError("give either -s/--samples or -S/--samples-file, not both")
        if self.input == "-" and self.targets is not None:
            raise InputError("--targets reads the backgrounds from -i by region, which needs an indexed "
                             "file, not stdin; give the phased VCF's path")


@dataclass(kw_only=True)
class PlanOptions(ModelOptions):
    """The options of `glrm plan` (docs/plan.md)."""

    batch_size: int | None = None        # None = auto
    calibrate: bool = True               # time one short forward on the device

    def validate(self) -> None:
        super().validate()
        check_batch_size(self.batch_size)


@dataclass(kw_only=True)
class WindowsOptions(ReadOptions):
    """The options of `glrm windows` (docs/windows.md): no model, so the window length is required."""

    window: int
    output: str = "-"                    # a TSV; '-' = stdout
    sv: bool = False                     # score-sv's rules instead of score-vcf's
    max_sv_len: int = DEFAULT_MAX_SV_LEN

    def validate(self) -> None:
        check_window(self.window)
        super().validate()
        check_max_sv_len(self.max_sv_len)


# --- the command line's texts ------------------------------------------------------------------------------

def parse_scores(text: str) -> tuple[str, ...]:
    """'llr,mlr,emb' (any subset, any order) -> the names in canonical order."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not names or any(t not in SCORE_FIELDS for t in names):
        raise InputError(f"--scores {text!r}: give a comma-separated subset of {','.join(SCORE_FIELDS)}")
    return tuple(k for k in SCORE_FIELDS if k in names)


def parse_auto_count(text: str | int, option: str, whole: str, at_least: str) -> int | None:
    """'auto' -> None; a whole number >= 1 -> itself; else an InputError naming `option`.

    The messages read `{option} {text!r}: give 'auto' or {whole}` (not a number) and
    `{option} {n}: give 'auto' or {at_least}` (below 1), so each option names its own unit.
    """
    if str(text).strip().lower() == AUTO:
        return None
    try:
        n = int(str(text).strip())
    except ValueError:
        raise InputError(f"{option} {text!r}: give 'auto' or {whole}") from None
    if n < 1:
        raise InputError(f"{option} {n}: give 'auto' or {at_least}")
    return n


def parse_chunk_size(text: str | int | None) -> int | str | None:
    """None -> None (each window in one pass); 'auto' -> 'auto' (from the free memory:
    glrm.scoring.sv.auto_chunk_size); a whole number >= 1 -> itself."""
    if text is None:
        return None
    n = parse_auto_count(text, "--chunk-size", "a whole number of tokens (1 or more)", "1 or more tokens")
    return AUTO if n is None else n


def parse_batch_size(text: str | int | None) -> int | None:
    """'auto' -> None; a whole number >= 1 -> itself."""
    if text is None:
        return None
    return parse_auto_count(text, "--batch-size", "a whole number of windows (1 or more)", "1 or more")


# the options given as text on the command line, in the order they are parsed (the first bad one is reported)
_PARSERS = {"scores": parse_scores, "batch_size": parse_batch_size, "chunk_size": parse_chunk_size}

Options = TypeVar("Options")


def from_cli(cls: type[Options], params: Mapping[str, Any], **extra: Any) -> Options:
    """`cls` from a command's parsed parameters (click's `ctx.params`, named as the fields of `cls`), with the
    texts of --scores, --batch-size and --chunk-size parsed; `extra` sets fields the command line does not
    (`command_line`)."""
    values = dict(params)
    for name, parse in _PARSERS.items():
        if values.get(name) is not None:
            values[name] = parse(values[name])
    return cls(**values, **extra)
