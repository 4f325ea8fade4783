"""`glrm models check`: per-base loss on real windows against shuffled ones, and the 24 base assignments. The
demo model (a HyenaDNA trained on chr20) passes; the same model with two bases swapped in its vocabulary is
flagged, and the scan names the assignment that undoes the swap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from glrm.cli.main import main
from glrm.errors import InputError
from glrm.io.fasta import Fasta
from glrm.pipeline.check import IDENTITY, MASK_FRACTION, pick_windows, reassign, shuffle_bases

ROOT = Path(__file__).parent.parent
DEMO = ROOT / "examples" / "demo"
FASTA = str(DEMO / "chr20_demo.fa.gz")
PLANT = Path(__file__).parent / "fixtures" / "plantcaduceus-tiny"

pytestmark = pytest.mark.usefixtures("one_thread")


def table(out: str) -> list[list[str]]:
    return [line.split("\t") for line in out.splitlines()]


def test_the_demo_model_reads_real_sequence_better_than_shuffled(capsys):
    args = ["models", "check", str(DEMO / "model"), "-f", FASTA, "--windows", "4", "--device", "cpu"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    rows = table(out)
    assert rows[0] == ["window", "chrom", "start", "end", "scored", "real_nll", "shuffled_nll"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "all"]
    real, shuffled = float(rows[-1][5]), float(rows[-1][6])
    assert real < 1.35 < 1.4 < shuffled    # trained: below log 4 = 1.386 on real sequence, above it shuffled
    assert all(int(r[3]) - int(r[2]) == 1024 and r[1] == "20" for r in rows[1:-1])
    assert err.startswith("glrm: check: ") and "its token ids look right" in err and err.count("\n") == 1
    assert "best base assignments: ACGT" in err


def swapped_demo(dest: Path, characters: str) -> Path:
    shutil.copytree(DEMO / "model", dest)
    (dest / "tokenizer_config.json").write_text(json.dumps({"characters": list(characters),
                                                            "model_max_length": 1026}))
    return dest


def test_a_swapped_base_mapping_is_flagged_and_the_right_one_named(tmp_path, capsys):
    folder = swapped_demo(tmp_path / "swapped", "CAGTN")     # A read as id 8, C as id 7
    assert main(["models", "check", str(folder), "-f", FASTA, "--windows", "4", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("glrm: warning: check: ")
    assert "reads real sequence better with the bases assigned as CAGT" in err
    assert "A=8 C=7 G=9 T=10" in err
    assert main(["models", "check", str(folder), "-f", FASTA, "--windows", "2", "--strict"]) == 1


def test_a_structure_keeping_swap_is_caught_by_the_assignment_scan(tmp_path, capsys):
    folder = swapped_demo(tmp_path / "purines", "GTACN")     # A<->G, C<->T: real still beats shuffled
    assert main(["models", "check", str(folder), "-f", FASTA, "--windows", "4"]) == 0
    out, err = capsys.readouterr()
    rows = table(out)
    assert float(rows[-1][5]) < float(rows[-1][6]) - 0.01
    assert "assigned as GTAC" in err and "does not read real sequence better" not in err


def test_masked_models_are_scored_on_masked_positions(capsys):
    args = ["models", "check", str(PLANT), "-f", FASTA, "-r", "20:60001-200000", "--windows", "3",
            "-w", "256"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    rows = table(out)[1:-1]
    assert len(rows) == 3 and all(int(r[3]) - int(r[2]) == 256 for r in rows)
    assert all(abs(int(r[4]) - MASK_FRACTION * 256) <= 0.05 * 256 for r in rows)
    assert err.startswith("glrm: warning: check: ")                                  # random weights: flagged


def test_windows_skip_n_runs_and_spread_evenly(tmp_path):
    seq = "N" * 300 + "ACGT" * 250 + "N" * 200 + "ACGT" * 100
    (tmp_path / "g.fa").write_text(">c\n" + seq + "\n")
    with Fasta(tmp_path / "g.fa") as fa:
        # N-free tiles: 300 .. 1200 and 1500 .. 1800 (14); three evenly spaced: the 1st, 7th and 14th
        assert pick_windows(fa, [("c", 0, None)], 3, 100, 0.05) == [("c", 300), ("c", 900), ("c", 1800)]
        assert pick_windows(fa, [("c", 1450, 1650)], 5, 100, 0.05) == [("c", 1550)]
        with pytest.raises(InputError, match="no window of 100 bases"):
            pick_windows(fa, [("c", 0, 300)], 3, 100, 0.05)


def test_shuffles_and_reassignments_keep_what_they_should():
    nuc = (7, 8, 9, 10)
    ids = np.array([7, 7, 8, 11, 9, 10, 10, 10, 11, 8])
    shuffled = shuffle_bases(ids, nuc, np.random.default_rng(0))
    assert sorted(shuffled) == sorted(ids) and list(np.flatnonzero(shuffled == 11)) == [3, 8]
    assert reassign(ids, nuc, IDENTITY).tolist() == ids.tolist()
    assert reassign(ids, nuc, "CAGT").tolist() == [8, 8, 7, 11, 9, 10, 10, 10, 11, 7]
