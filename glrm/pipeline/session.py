"""What `score-vcf` and `score-sv` share around their scoring loops: checking the output paths, opening the
inputs (FASTA, VCF/BCF, the contig check, the shard, the resume checkpoint), opening the outputs (annotated
VCF, BED, progress bar, the replay of a resumed run), and finishing (removing the checkpoint, the summary on
stderr). `opts` is a `glrm.pipeline.options.ScoreOptions` throughout.

    opts.validate()
    out_type = check_outputs(opts)
    with ExitStack() as stack:
        inp = open_inputs(opts, stack)
        ... load the model, build the engine, the header fields and the ##glrm_model meta ...
        out = open_outputs(opts, stack, inp, out_type, vcf_fields, bed_fields, meta)
        for rec in out.records: ... out.vcf.write(...); out.bed.write_row(...)
    finish(opts, summary, t0, inp.resume)

The order of `stack.enter_context` calls is the order of commits in reverse: the progress bar (entered last)
closes first, then the BED, then the VCF (renamed into place with its index), then the readers.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

from glrm.errors import OutputError
from glrm.io.atomic import check_writable
from glrm.io.fasta import Fasta
from glrm.io.vcf import Record, VcfReader
from glrm.io.vcf_writer import check_output
from glrm.pipeline.options import ScoreOptions
from glrm.pipeline.progress import Progress, RunSummary
from glrm.pipeline.shard import parse_shard, range_for_shard, with_shard_line


def check_outputs(opts: ScoreOptions) -> str:
    """Refuse unwritable outputs, and outputs that would overwrite the input or each other, and --resume where
    it cannot work; return the VCF output type. Nothing is read yet; nothing is written."""
    out_type = check_output(opts.output, opts.output_type)
    if opts.bed is not None and opts.bed != "-":
        check_writable(opts.bed)
    for out in (opts.output, opts.bed):
        if out not in (None, "-") and opts.input != "-" and os.path.exists(out) \
                and os.path.exists(opts.input) and os.path.samefile(out, opts.input):
            raise OutputError(f"{out}: is the input VCF; write the output to another file")
    if opts.bed not in (None, "-") and os.path.abspath(opts.bed) == os.path.abspath(opts.output):
        raise OutputError(f"{opts.bed}: -o and --bed name the same file; give the BED another name")
    if opts.resume:
        from glrm.pipeline.resume import check_resume

        check_resume(opts)
    return out_type


def open_resume(opts: ScoreOptions):
    """The run's checkpoint (glrm.pipeline.resume.ResumeState) with --resume, else None."""
    if not opts.resume:
        return None
    from glrm.pipeline.resume import ResumeState

    return ResumeState.open(opts)


@dataclass
class Inputs:
    fasta: Fasta
    reader: VcfReader
    shard: object | None     # glrm.pipeline.shard.ShardRange with --shard, else None
    resume: object | None    # glrm.pipeline.resume.ResumeState with --resume, else None


def open_inputs(opts: ScoreOptions, stack: ExitStack) -> Inputs:
    """The FASTA and the VCF/BCF (with -r/-R), checked against each other's contigs, the --shard range and
    the --resume checkpoint; all before any model is loaded, so bad input fails fast."""
    fasta = stack.enter_context(Fasta(opts.fasta))
    reader = stack.enter_context(VcfReader(opts.input, regions=opts.regions, regions_file=opts.regions_file))
    fasta.check_contigs(reader.contigs, opts.input, ignore_length=opts.ignore_contig_length)
    rng = range_for_shard(parse_shard(opts.shard), opts.input, opts.regions, opts.regions_file)
    return Inputs(fasta, reader, rng, open_resume(opts))


@dataclass
class Outputs:
    vcf: object                  # glrm.io.vcf_writer.VcfAnnotator, or the resume checkpoint's recorder of it
    bed: object | None           # glrm.io.bed.BedWriter (or its recorder) with --bed, else None
    progress: Progress
    records: Iterator[Record]    # the records still to score: this shard's, after those a resume replayed
    extra: list = field(default_factory=list)


def open_outputs(opts: ScoreOptions, stack: ExitStack, inp: Inputs, out_type: str, vcf_fields, bed_fields,
                 meta: dict, before_progress=None, command_name: str = "glrm score-vcf") -> Outputs:
    """The annotated VCF (the input's header, the shard line, `vcf_fields`, ##glrm lines with `meta`), the
    BED with `bed_fields` when asked for, the progress bar, and the records to score; with --resume the
    outputs of the records already done are replayed first. `before_progress(stack)`, if given, opens
    what must commit after the progress bar closes (score-sv's track folder); it lands in `extra`.
    `command_name` starts the plain progress lines written when stderr is not a terminal."""
    from glrm.io.bed import BedWriter
    from glrm.io.vcf import count_records
    from glrm.io.vcf_writer import VcfAnnotator

    rng, resume = inp.shard, inp.resume
    if opts.quiet or (rng is None and opts.input == "-"):
        total = None                  # no total to show, or none to know before stdin is read
    else:
        total = rng.records if rng else count_records(opts.input, opts.regions, opts.regions_file)
    vcf_out = stack.enter_context(VcfAnnotator(
        opts.output, with_shard_line(inp.reader.header_lines, rng), vcf_fields, out_type=out_type,
        version_line=not opts.no_version, command=opts.command_line, model_meta=meta))
    bed_out = stack.enter_context(BedWriter(opts.bed, bed_fields)) if opts.bed is not None else None
    extra = [before_progress(stack)] if before_progress is not None else []
    progress = stack.enter_context(Progress(total, enabled=not opts.quiet, command=command_name))
    stack.push(flush_before_commit(vcf_out, bed_out))
    records = rng.select(inp.reader) if rng else iter(inp.reader)
    if resume is not None:
        tracks = next((x for x in extra if hasattr(x, "resume_into")), None)
        if tracks is not None:
            tracks.resume_into(resume)   # tracks go to the checkpoint until the run succeeds
        progress.skip(resume.replay(vcf_out, bed_out, tracks))
        records = itertools.islice(records, resume.done, None)
        vcf_out, bed_out = resume.recording(vcf_out), resume.recording_bed(bed_out)
    return Outputs(vcf_out, bed_out, progress, records, extra)


def flush_before_commit(*writers):
    """An exit callback: on success, every writer's buffered data is written out before the first output is
    renamed into place, so a full disk or a file-size limit fails the run while none of its outputs exists
    (an error here makes the writers still open discard their temporary files)."""
    def flush(exc_type, exc, tb) -> bool:
        if exc_type is None:
            for w in writers:
                if w is not None:
                    w.flush()
        return False

    return flush


def finish(opts: ScoreOptions, summary: RunSummary, t0: float, resume,
           extra_outputs: tuple[str, ...] = ()) -> None:
    """After the outputs are committed: drop the resume checkpoint (it has done its work), fill in the
    summary's time and outputs, and print it on stderr unless --quiet."""
    if resume is not None:
        summary.resumed = resume.resumed
        resume.remove()
    summary.seconds = time.perf_counter() - t0
    summary.outputs = [("stdout" if opts.output == "-" else opts.output)]
    if opts.bed is not None:
        summary.outputs.append("stdout" if opts.bed == "-" else opts.bed)
    summary.outputs.extend(extra_outputs)
    if not opts.quiet:
        for line in summary.lines():
            print(line, file=sys.stderr)
