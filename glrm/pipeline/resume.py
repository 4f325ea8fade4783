"""`--resume`: checkpoint a scoring run beside its output so that a killed run continues where it stopped.

The checkpoint is the folder `OUT.glrm-resume/` next to the output `OUT`:
- `records.jsonl`: one JSON line per finished record: its raw input line and the values the run gave to the
  writer (`VcfAnnotator.write(raw, values)`), and one per BED row (`BedWriter.write_row` arguments), so a
  restart replays exactly what the killed run wrote;
- `state.json`: the key of the run (a hash of its options, of the identity of its input, FASTA and model
  files: path, size and mtime, and of glrm's version and score definitions version), the number of finished
  records and the byte length of `records.jsonl` that holds them. It is replaced atomically after each block,
  once the block's lines are on disk (fsync), so a kill at any moment leaves a consistent checkpoint (bytes
  past the recorded length are cut on restart).

Blocks are cut by time as well as by size: score-vcf commits at least every `checkpoint_seconds()` of work
(GLRM_CHECKPOINT_SECONDS, default 60), so a killed long-window run loses at most about that; score-sv commits
after every record.

A restart with --resume and the same arguments replays the finished records into a fresh (atomic) output,
skips them in the input and scores the rest; on success the output is committed and the folder removed. The
output is byte for byte what an uninterrupted run writes (the ##glrmCommand date aside). A restart whose
key differs is refused with a message to delete the folder or drop --resume. Without --resume nothing here
runs. --resume needs a file output (and BED) and a file input. With score-sv's --track-dir, the tracks of a
resumed run are written into `OUT.glrm-resume/tracks/` and moved into the track folder when the run succeeds
(a workflow manager that deletes a failed job's declared outputs cannot take them); `records.jsonl` names
them (`{"track": NAME}` lines), so a restart gives later records the same file names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import os
import shutil
from enum import Enum
from pathlib import Path

from glrm import __version__
from glrm.errors import InputError, OutputError
from glrm.io.atomic import remove_stale_temps, write_failure
from glrm.io.fields import DEFINITIONS_VERSION
from glrm.pipeline.options import ScoreOptions

SUFFIX = ".glrm-resume"
CHECKPOINT_SECONDS = 60.0   # commit finished records at least this often (seconds of work)
_SKIP_KEYS = {"quiet", "command_line", "threads", "resume"}   # options that cannot change the output bytes


def checkpoint_dir(output: str) -> Path:
    return Path(str(output) + SUFFIX)


def checkpoint_seconds() -> float:
    """Seconds of work between checkpoints at most: GLRM_CHECKPOINT_SECONDS, else CHECKPOINT_SECONDS."""
    text = os.environ.get("GLRM_CHECKPOINT_SECONDS", "").strip()
    if not text:
        return CHECKPOINT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < float("inf"):
        raise InputError(f"GLRM_CHECKPOINT_SECONDS={text!r}: give a number of seconds, 0 or more (default "
                         f"{CHECKPOINT_SECONDS:g}), or unset it")
    return value


def check_resume(opts: ScoreOptions) -> None:
    """Refuse --resume where it cannot work, before anything is read."""
    checkpoint_seconds()
    if opts.output == "-":
        raise OutputError("--resume needs an output file (-o OUT): the checkpoint is kept beside it")
    if opts.input == "-":
        raise InputError("--resume needs an input file, not stdin: a restart must read the same records")
    if opts.bed == "-":
        raise OutputError("--resume needs a BED file (--bed OUT.bed), not stdout: a restart rewrites it")


def _file_identity(path: str) -> object:
    p = Path(path)
    if p.is_dir():
        return sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in p.iterdir() if f.is_file())
    if p.is_file():
        st = p.stat()
        return [str(p.resolve()), st.st_size, st.st_mtime_ns]
    return str(path)   # e.g. a model name in the cache


def run_key(opts: ScoreOptions) -> str:
    """SHA-256 over the options that shape the output, the identity of the files the run reads, and glrm's
    version and score definitions version."""
    fields = {k: v for k, v in dataclasses.asdict(opts).items() if k not in _SKIP_KEYS}
    files = {"input": _file_identity(opts.input), "fasta": _file_identity(opts.fasta),
             "model": _file_identity(opts.model)}
    if opts.regions_file:
        files["regions_file"] = _file_identity(opts.regions_file)
    # another glrm, or other score definitions, may give other values for the finished records
    made_by = {"glrm": __version__, "definitions": DEFINITIONS_VERSION}
    text = json.dumps({"options": fields, "files": files, "made_by": made_by}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: object) -> object:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)     # numpy float32 -> the same value as a Python float
    return value


class ResumeState:
    """The --resume checkpoint folder of one run (not a model checkpoint: glrm.models.loading.Checkpoint).
    `open` it, `replay` into the writer, wrap the writer with `recording`, `commit` after each block, `remove`
    on success."""

    def __init__(self, output: str, key: str) -> None:
        self.folder = checkpoint_dir(output)
        self.key = key
        self.part = self.folder / "records.jsonl"
        self.state_path = self.folder / "state.json"
        self.done = 0
        self.resumed: int | None = None   # records found in an existing checkpoint (None: a new one)
        self._bytes = 0
        self._pending: list[bytes] = []
        self._pending_records = 0

    @classmethod
    def open(cls, opts: ScoreOptions) -> ResumeState:
        """Load the checkpoint of `opts.output` (checking it belongs to this run) or start a new one."""
        ck = cls(opts.output, run_key(opts))
        if ck.state_path.exists():
            try:
                state = json.loads(ck.state_path.read_text())
                done, size, key = int(state["records"]), int(state["bytes"]), str(state["key"])
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise InputError(f"{ck.state_path}: unreadable checkpoint ({e}); delete {ck.folder} or drop "
                                 "--resume") from None
            if key != ck.key:
                raise InputError(f"{ck.folder}: the checkpoint was made with other arguments, other input/"
                                 f"FASTA/model files or another glrm version; delete {ck.folder} to start "
                                 "over, or drop --resume")
            if not ck.part.exists() or ck.part.stat().st_size < size:
                raise InputError(f"{ck.part}: shorter than its checkpoint says (damaged); delete {ck.folder} "
                                 "to start over")
            with open(ck.part, "r+b") as fh:
                fh.truncate(size)   # a block half-appended when the run was killed is dropped
            ck.done, ck._bytes = done, size
            ck.resumed = done
            for out in (opts.output, opts.bed):
                if out not in (None, "-"):
                    remove_stale_temps(out)   # a killed run's half-written temporary outputs
        else:
            try:
                ck.folder.mkdir(exist_ok=True)
            except OSError as e:
                raise OutputError(f"{ck.folder}: cannot create the checkpoint folder ({e.strerror}); "
                                  "choose another output path or drop --resume") from None
            ck.part.write_bytes(b"")
            ck._write_state()
        return ck

    @property
    def track_folder(self) -> Path:
        """Where a resumable run keeps its finished bedGraph tracks until it succeeds."""
        return self.folder / "tracks"

    def replay(self, writer, bed_writer=None, tracks=None) -> int:
        """Write the finished records (and BED rows) again into the writers, and give `tracks` (an object
        with `replayed(name)`) the names of the tracks already written; return how many records."""
        n = 0
        with open(self.part, encoding="utf-8") as fh:
            for line in fh:
                item = json.loads(line)
                if "track" in item:
                    if tracks is None:
                        raise InputError(f"{self.part}: holds tracks but this run has no --track-dir; delete "
                                         f"{self.folder} to start over")
                    tracks.replayed(item["track"])
                    continue
                if "bed" in item:
                    if bed_writer is None:
                        raise InputError(f"{self.part}: holds BED rows but this run has no --bed; delete "
                                         f"{self.folder} to start over")
                    bed_writer.write_row(*item["bed"], item["values"])
                    continue
                writer.write(item["raw"], item["values"])
                n += 1
        if n != self.done:
            raise InputError(f"{self.part}: holds {n} records, its checkpoint says {self.done}; delete "
                             f"{self.folder} to start over")
        return n

    def recording(self, writer) -> _Recorder:
        """`writer`, with every write also kept for the next `commit`."""
        return _Recorder(writer, self)

    def recording_bed(self, bed_writer) -> _BedRecorder | None:
        """`bed_writer` (or None), with every row also kept for the next `commit`."""
        return None if bed_writer is None else _BedRecorder(bed_writer, self)

    def record_track(self, name: str) -> None:
        """Keep the name of a track file written for the current block (in `track_folder`)."""
        self._pending.append((json.dumps({"track": name}) + "\n").encode())

    def commit(self, n_records: int) -> None:
        """The last `n_records` records are a finished block: append them (and their BED rows), sync, then
        update the state."""
        if n_records != self._pending_records:
            raise RuntimeError(f"checkpoint: {self._pending_records} records pending for a block of "
                               f"{n_records}")
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_records = 0
        try:
            with open(self.part, "ab") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as e:
            raise self._failed(self.part, e) from None
        self._bytes += len(data)
        self.done += n_records
        self._write_state()

    def _write_state(self) -> None:
        tmp = self.state_path.with_suffix(".json.tmp")
        try:
            with open(tmp, "w") as fh:
                json.dump({"key": self.key, "records": self.done, "bytes": self._bytes}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.state_path)
        except OSError as e:
            raise self._failed(self.state_path, e) from None

    def _failed(self, path: Path, exc: OSError) -> OutputError:
        """A checkpoint write that failed (full disk, file-size limit, ...): the state on disk still
        describes the last finished block, so the same command can continue once the cause is fixed."""
        why = write_failure(path, exc)
        return OutputError(f"{path}: cannot write the --resume checkpoint ({why.reason}); {why.fix_here}, "
                           f"then run the same command again to continue from its {self.done:,} finished "
                           "records")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class _Recorder:
    """Passes writes through to the writer and keeps them (as JSON lines) for the checkpoint."""

    def __init__(self, writer, checkpoint: ResumeState) -> None:
        self._writer, self._ck = writer, checkpoint

    def write(self, raw: str, values) -> None:
        self._writer.write(raw, values)
        plain = {k: None if v is None else [_plain(x) for x in v] for k, v in values.items()}
        self._ck._pending.append((json.dumps({"raw": raw, "values": plain}) + "\n").encode())
        self._ck._pending_records += 1


class _BedRecorder:
    """Passes BED rows through to the BED writer and keeps them for the checkpoint."""

    def __init__(self, writer, checkpoint: ResumeState) -> None:
        self._writer, self._ck = writer, checkpoint

    def write_row(self, chrom: str, start: int, end: int, name: str, values) -> None:
        self._writer.write_row(chrom, start, end, name, values)
        item = {"bed": [chrom, int(start), int(end), name],
                "values": {k: _plain(v) for k, v in values.items()}}
        self._ck._pending.append((json.dumps(item) + "\n").encode())

    def write_allele(self, allele, values) -> None:
        self.write_row(allele.chrom, allele.start, allele.end, allele.name, values)
