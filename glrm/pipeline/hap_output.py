"""What `glrm score-haplotypes` writes: the annotated VCF (INFO summaries and FORMAT values per haplotype),
the BED (one row per ALT, the INFO summaries), the progress, and the summary on stderr
(docs/score-haplotypes.md, "Outputs").

FORMAT values are ALT-major: for ALT 1 the sample's haplotypes 1 and 2, then ALT 2's, and so on
(`a1h1,a1h2,a2h1,a2h2`); for a biallelic record simply `h1,h2`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from glrm.io.fields import GLRM_HAP_BG, GLRM_HAP_N, GLRM_HAP_N_UNIQUE, GLRM_HAP_STATUS, GLRM_STATUS
from glrm.pipeline.progress import Progress, RunSummary
from glrm.pipeline.session import flush_before_commit
from glrm.variants import HapStatus, Status

OK = Status.OK.value
_NAME = "glrm score-haplotypes"


@dataclass
class HapSummary(RunSummary):
    """score-haplotypes' summary: the targets' statuses as score-vcf's, and the haplotypes'."""

    samples: int = 0
    slots: dict[str, int] = field(default_factory=dict)          # haplotype status -> count
    slot_examples: dict[str, str] = field(default_factory=dict)
    haplotypes: int = 0           # haplotype windows scored (OK), over all target ALTs
    unique: int = 0               # their distinct backgrounds, summed over target ALTs
    jobs: int = 0                 # backgrounds scored (the distinct ones, and each OK ALT's reference)

    def slot(self, status: str, where: str) -> None:
        self.slots[status] = self.slots.get(status, 0) + 1
        if status != OK and status not in self.slot_examples:
            self.slot_examples[status] = where

    def lines(self) -> list[str]:
        order = [s.value for s in Status] + [s.value for s in HapStatus]
        counts = ", ".join(f"{k} {self.statuses[k]:,}" for k in order if k in self.statuses) or "none"
        slots = ", ".join(f"{k} {self.slots[k]:,}" for k in order if k in self.slots) or "none"
        rate = f", {self.haplotypes / self.seconds:,.1f} haplotypes/s" if self.seconds > 0 else ""
        ratio = f" ({self.haplotypes / self.unique:,.1f} haplotypes each)" if self.unique else ""
        out = [
            f"{_NAME}: {self.records:,} records, {self.alleles:,} ALT alleles: {counts}",
            f"{_NAME}: {self.samples:,} samples, {2 * self.samples:,} haplotypes per ALT; haplotype windows: "
            f"{slots}",
            f"{_NAME}: {self.haplotypes:,} haplotype windows scored from {self.unique:,} distinct backgrounds"
            f"{ratio}; {self.jobs:,} backgrounds scored in all (with each ALT's reference)",
            f"{_NAME}: {self.passes:,} model passes, {self.geometry()}, {self.seconds:.1f} s wall{rate}, "
            f"device {self.device}",
        ]
        for key in order:
            if key in self.examples:
                out.append(f"{_NAME}: first {key}: {self.examples[key]}")
            elif key in self.slot_examples:
                out.append(f"{_NAME}: first {key}: {self.slot_examples[key]}")
        if self.outputs:
            out.append(f"{_NAME}: wrote " + ", ".join(self.outputs))
        return out


class HapWriter:
    """The outputs of one run, opened on `stack` (the VCF first, so it commits last, as score-vcf's)."""

    def __init__(self, opts, stack, out_type: str, targets, columns: list[int | None], added: list[str],
                 vcf_fields, bed_fields, meta: dict, summary: HapSummary):
        from glrm.io.bed import BedWriter
        from glrm.io.vcf import count_records
        from glrm.io.vcf_writer import VcfAnnotator

        self.opts, self.summary, self.columns = opts, summary, columns
        self.infos, self.formats = vcf_fields
        self.bed_infos = bed_fields[0]
        header = list(targets.header_lines)
        if added:                                 # a sites-only targets VCF gains the selected samples
            header[-1] += "\tFORMAT\t" + "\t".join(added)
        path = opts.targets if opts.targets is not None else opts.input
        stdin = path == "-"
        total = None if opts.quiet or stdin else count_records(path, opts.regions, opts.regions_file)
        self.vcf = stack.enter_context(VcfAnnotator(
            opts.output, header, [*self.infos, *self.formats], out_type=out_type,
            version_line=not opts.no_version, command=opts.command_line, model_meta=meta))
        self.bed = stack.enter_context(BedWriter(opts.bed, self.bed_infos)) if opts.bed is not None else None
        self.progress = stack.enter_context(Progress(total, enabled=not opts.quiet, command=_NAME))
        stack.push(flush_before_commit(self.vcf, self.bed))
        self.score_keys = [f.id for f in self.infos if f.number == "A" and f.type == "Float"
                           and not f.id.startswith("GLRM_HAP_")]

    def follow(self, engine) -> None:
        self.progress.follow(engine)

    def write(self, target, rows: list[int], names: list[str]) -> None:
        rec = target.rec
        info: dict[str, list] = {f.id: [] for f in self.infos}
        slots_out = []           # per ALT: (values per score key per slot, bg per slot, status per slot)
        where = f"{self.opts.targets or self.opts.input}: " + (
            f"line {rec.line}" if rec.line is not None else f"record {rec.chrom}:{rec.pos}")
        for alt in target.alts:
            status = alt.window.status.value
            self.summary.add(alt.window.status, f"{where} ALT {alt.allele.alt}", alt.window.note,
                             alt.allele.kind)
            per_key = {k: [] for k in self.score_keys}
            bgs, states, keys = [], [], {((), ()): 0}
            for slot, got in enumerate(alt.slots):
                state = got if isinstance(got, str) else got.status
                if state == OK:
                    bg = keys.setdefault((got.up, got.down), len(keys))
                    for k in self.score_keys:
                        per_key[k].append(got.result.get(k))
                else:
                    bg = None
                    for k in self.score_keys:
                        per_key[k].append(None)
                bgs.append(bg)
                states.append(state)
                self.summary.slot(state, f"{where} ALT {alt.allele.alt} sample {names[rows[slot // 2]]} "
                                         f"haplotype {slot % 2 + 1}")
            slots_out.append((per_key, bgs, states))
            ok = [i for i, s in enumerate(states) if s == OK]
            ref = alt.ref_job.result if alt.ref_job is not None and status == OK else None
            for k in self.score_keys:
                info[k].append(ref.get(k) if ref else None)
                vals = [per_key[k][i] for i in ok if per_key[k][i] is not None]
                for suffix, fn in (("MEAN", _mean), ("MIN", min), ("MAX", max)):
                    hap_key = f"GLRM_HAP_{k.removeprefix('GLRM_')}_{suffix}"
                    if hap_key in info:
                        info[hap_key].append(fn(vals) if vals else None)
            distinct = {bgs[i] for i in ok}
            info[GLRM_HAP_N.id].append(len(ok) if status == OK else None)
            info[GLRM_HAP_N_UNIQUE.id].append(len(distinct) if status == OK else None)
            info[GLRM_STATUS.id].append(status)
            self.summary.haplotypes += len(ok)
            self.summary.unique += len(distinct)
        samples = {f.id: [] for f in self.formats}
        for row in self.columns:
            for f in self.formats:
                samples[f.id].append(None if row is None else [])
            if row is None:
                continue
            for per_key, bgs, states in slots_out:
                for slot in (2 * row, 2 * row + 1):
                    for f in self.formats:
                        if f is GLRM_HAP_BG:
                            v = bgs[slot]
                        elif f is GLRM_HAP_STATUS:
                            v = states[slot]
                        else:
                            v = per_key["GLRM_" + f.id.removeprefix("GLRM_HAP_")][slot]
                        samples[f.id][-1].append(v)
        self.vcf.write(rec.raw, info, samples)
        if self.bed is not None:
            for k, alt in enumerate(target.alts):
                self.bed.write_allele(alt.allele, {f.id: info[f.id][k] for f in self.bed_infos})
        self.summary.records += 1
        self.progress.advance(1, len(target.alts))

    def finish(self, t0: float) -> None:
        """After the outputs are committed: the summary on stderr unless --quiet."""
        s = self.summary
        s.seconds = time.perf_counter() - t0
        s.outputs = ["stdout" if self.opts.output == "-" else self.opts.output]
        if self.opts.bed is not None:
            s.outputs.append("stdout" if self.opts.bed == "-" else self.opts.bed)
        if not self.opts.quiet:
            for line in s.lines():
                print(line, file=sys.stderr)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
