"""Atomic outputs: temp file beside the target, renamed on success; stale temps of a killed run removed."""

import pytest

from glrm.errors import OutputError
from glrm.io.atomic import atomic_path, remove_stale_temps


def test_failure_leaves_nothing_and_keeps_the_old_target(tmp_path):
    target = tmp_path / "out.tsv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


def test_success_replaces_the_target(tmp_path):
    target = tmp_path / "out.tsv"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


def test_missing_folder_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="does not exist"), atomic_path(tmp_path / "no" / "out.tsv"):
        pass


def test_remove_stale_temps_only_touches_this_targets_temps(tmp_path):
    for name in (".out.vcf.gz.tmp-abc.vcf.gz", ".out.vcf.gz.tbi.tmp-x", ".other.vcf.gz.tmp-y", "out.vcf.gz"):
        (tmp_path / name).write_text("x")
    gone = remove_stale_temps(tmp_path / "out.vcf.gz")
    assert sorted(p.name for p in gone) == [".out.vcf.gz.tbi.tmp-x", ".out.vcf.gz.tmp-abc.vcf.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.vcf.gz.tmp-y", "out.vcf.gz"]
