"""glrm.io.fasta: the spec's G[a:b] on the real chr20 and E. coli slices, and on small edge cases."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pysam
import pytest

from glrm.errors import InputError
from glrm.io.fasta import Fasta, contig_aliases

CHR20_LEN = 63_025_520
ECOLI_LEN = 4_639_675


def _write_fasta(path, records: dict[str, str], width: int = 7):
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name} some description\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + "\n")
    return path


def _vcf_records(path):
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if not line.startswith("#"):
                yield line.rstrip("\n").split("\t")


# ---- real data ----------------
def test_chr20_slice_contig_and_real_ref_alleles(data_dir):
    with Fasta(data_dir / "chr20_slice.fa.gz") as fa:
        assert fa.contigs == {"20": CHR20_LEN}
        assert fa.length("20") == CHR20_LEN
        n = 0
        for f in _vcf_records(data_dir / "chr20_indels.vcf.gz"):
            pos0, ref = int(f[1]) - 1, f[3]
            assert fa.fetch(f[0], pos0, pos0 + len(ref)) == ref.upper(), f[:5]
            n += 1
        assert n == 194
        for f in _vcf_records(data_dir / "gonl_snvs.vcf.gz"):
            assert fa.fetch("20", int(f[1]) - 1, int(f[1])) == f[3]


def test_chr20_slice_is_masked_far_from_variants(data_dir):
    with Fasta(data_dir / "chr20_slice.fa.gz") as fa:
        assert fa.fetch("20", 0, 10_000) == "N" * 10_000
        # the first indel is at POS 421808: real sequence within 6 kb of it, N well beyond
        near = fa.fetch("20", 421_807 - 5_000, 421_807 + 5_000)
        assert set(near) <= set("ACGT") and len(near) == 10_000
        assert fa.fetch("20", 421_807 - 7_000, 421_807 - 6_500) == "N" * 500


def test_ecoli_slice(data_dir):
    with Fasta(data_dir / "ecoli_slice.fa.gz") as fa:
        assert fa.contigs == {"K-12-MG1655": ECOLI_LEN}
        # first simulated SV: <DUP> at POS 403077, END 405803
        seq = fa.fetch("K-12-MG1655", 403_076 - 100, 405_803 + 100)
        assert set(seq) <= set("ACGT")


def test_fetch_one_megabase_is_fast(data_dir):
    with Fasta(data_dir / "chr20_slice.fa.gz") as fa:
        t0 = time.perf_counter()
        seq = fa.fetch("20", 13_160_000 - 500_000, 13_160_000 + 500_000)
        elapsed = time.perf_counter() - t0
    assert len(seq) == 1_000_000 and set(seq) <= set("ACGTN")
    assert elapsed < 0.5


# ---- sequence rules ----------------
def test_lower_case_and_iupac(tmp_path):
    fa_path = _write_fasta(tmp_path / "x.fa", {"c1": "acgtACGTRYKMSWBDHVN-nx"})
    with Fasta(fa_path) as fa:
        assert fa.fetch("c1", 0, 22) == "ACGTACGT" + "N" * 14
        assert fa.fetch("c1", 2, 5) == "GTA"


def test_n_padding_past_both_ends(tmp_path):
    fa_path = _write_fasta(tmp_path / "x.fa", {"c1": "ACGTACGTAC"})
    with Fasta(fa_path) as fa:
        assert fa.fetch("c1", -3, 2) == "NNNAC"
        assert fa.fetch("c1", 8, 14) == "ACNNNN"
        assert fa.fetch("c1", -2, 12) == "NNACGTACGTACNN"
        assert fa.fetch("c1", -10, -4) == "N" * 6
        assert fa.fetch("c1", 20, 25) == "N" * 5
        assert fa.fetch("c1", 3, 3) == ""
        with pytest.raises(ValueError):
            fa.fetch("c1", 5, 4)


def test_n_padding_on_real_contig_end(data_dir):
    with Fasta(data_dir / "chr20_slice.fa.gz") as fa:
        assert fa.fetch("20", CHR20_LEN - 5, CHR20_LEN + 5) == "N" * 10
        assert len(fa.fetch("chr20", -100, 100)) == 200


# ---- contig names ----------------
def test_resolve_chr_prefix_on_real_slice(data_dir):
    with Fasta(data_dir / "chr20_slice.fa.gz") as fa:
        assert fa.resolve("20") == "20"
        assert fa.resolve("chr20") == "20"
        assert fa.resolve("chr21") is None
        assert fa.fetch("chr20", 421_807, 421_808) == fa.fetch("20", 421_807, 421_808)


def test_resolve_mito_and_chr(tmp_path):
    fa_path = _write_fasta(tmp_path / "x.fa", {"chr1": "ACGT", "MT": "GGGG"})
    with Fasta(fa_path) as fa:
        assert fa.resolve("1") == "chr1"
        assert fa.resolve("chrM") == "MT"
        assert fa.resolve("chrMT") == "MT"
        assert fa.resolve("MT") == "MT"
        assert fa.resolve("M") is None
        assert fa.length("chrM") == 4
        assert fa.fetch("chrM", 0, 4) == "GGGG"


def test_resolve_ambiguous_is_none(tmp_path):
    fa_path = _write_fasta(tmp_path / "x.fa", {"MT": "ACGT", "chrMT": "GGGG", "1": "AA", "chr1": "CC"})
    with Fasta(fa_path) as fa:
        assert fa.resolve("chrM") is None  # both MT and chrMT would fit
        assert fa.resolve("1") == "1"  # exact names always win
        assert fa.resolve("chr1") == "chr1"
        with pytest.raises(InputError, match="contig 'chrM' is not in the FASTA"):
            fa.fetch("chrM", 0, 1)


def test_contig_aliases():
    assert contig_aliases("20") == ("chr20",)
    assert contig_aliases("chr20") == ("20",)
    assert set(contig_aliases("chrM")) == {"MT", "chrMT"}


def test_unknown_contig_length_error(data_dir):
    with Fasta(data_dir / "chr20_slice.fa.gz") as fa:
        with pytest.raises(InputError, match=r"contig '7' is not in the FASTA \(it has 20\)"):
            fa.length("7")


# ---- wrong assembly ----------------
def test_check_contigs_ok_on_real_vcf_header(data_dir):
    with gzip.open(data_dir / "chr20_indels.vcf.gz", "rt") as fh:
        header = [line for line in fh if line.startswith("##contig")]
    lengths = {
        re.search(r"ID=([^,>]+)", h).group(1): int(re.search(r"length=(\d+)", h).group(1)) for h in header
    }
    assert lengths["20"] == CHR20_LEN and len(lengths) > 20
    with Fasta(data_dir / "chr20_slice.fa.gz") as fa:
        fa.check_contigs(lengths, data_dir / "chr20_indels.vcf.gz")  # other contigs are absent: not an error
        fa.check_contigs({"chr20": CHR20_LEN, "20": None}, "x.vcf")


def test_check_contigs_wrong_assembly_ecoli(data_dir):
    vcf = data_dir / "ecoli_sim_svs.vcf"
    line = next(x for x in open(vcf) if x.startswith("##contig"))
    vcf_len = int(re.search(r"length=(\d+)", line).group(1))
    assert vcf_len == 4_740_704
    with Fasta(data_dir / "ecoli_slice.fa.gz") as fa:
        with pytest.raises(InputError) as err:
            fa.check_contigs({"K-12-MG1655": vcf_len}, vcf)
    msg = str(err.value)
    assert "wrong assembly?" in msg and "K-12-MG1655" in msg and "\n" not in msg
    assert str(vcf) in msg and "ecoli_slice.fa.gz" in msg
    assert "4,740,704" in msg and "4,639,675" in msg


def test_check_contigs_after_reconciliation(data_dir):
    with Fasta(data_dir / "chr20_slice.fa.gz") as fa:
        with pytest.raises(InputError, match=r"chr20 \(FASTA: 20\) has length 64,444,167"):
            fa.check_contigs({"chr20": 64_444_167}, "hg38.vcf")  # GRCh38 chr20 against GRCh37


# ---- index handling ----------------
def test_builds_missing_fai_and_gzi(tmp_path, data_dir):
    shutil.copy(data_dir / "ecoli_slice.fa.gz", tmp_path / "e.fa.gz")
    with Fasta(tmp_path / "e.fa.gz") as fa:
        assert fa.contigs == {"K-12-MG1655": ECOLI_LEN}
    assert (tmp_path / "e.fa.gz.fai").read_bytes() == (data_dir / "ecoli_slice.fa.gz.fai").read_bytes()
    assert (tmp_path / "e.fa.gz.gzi").is_file()
    plain = _write_fasta(tmp_path / "p.fa", {"a": "ACGT" * 10})
    Fasta(plain).close()
    assert (tmp_path / "p.fa.fai").is_file()


def _fasta_error_as_nobody(path) -> str:
    """Open `path` with Fasta in a forked child that dropped root for 'nobody'; return its error message."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                Fasta(path).close()
                msg = "no error"
            except InputError as exc:
                msg = str(exc)
            os.write(write_end, msg.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        msg = fh.read().decode()
    os.waitpid(pid, 0)
    return msg


def test_missing_fai_in_read_only_folder(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="glrm-ro-"))  # not under pytest's 0700 folder, so 'nobody' can enter
    try:
        base.chmod(0o755)
        folder = base / "ro"
        folder.mkdir()
        _write_fasta(folder / "x.fa", {"a": "ACGT"})
        folder.chmod(0o555)
        expected = r"x\.fa: index x\.fa\.fai is missing and the folder is not writable; run `samtools faidx "
        if os.access(folder, os.W_OK):  # root writes anywhere: check as 'nobody' instead
            if os.geteuid() != 0 or not hasattr(os, "fork"):
                pytest.skip("cannot make a folder read-only for this user")
            assert re.search(expected, _fasta_error_as_nobody(folder / "x.fa"))
        else:
            with pytest.raises(InputError, match=expected):
                Fasta(folder / "x.fa")
        assert not (folder / "x.fa.fai").exists()
    finally:
        (base / "ro").chmod(0o755)
        shutil.rmtree(base)


def test_index_cannot_be_written(tmp_path):
    """Writing the .fai really fails (its path is taken by a folder), whoever runs the test."""
    _write_fasta(tmp_path / "x.fa", {"a": "ACGT"})
    (tmp_path / "x.fa.fai").mkdir()
    with pytest.raises(InputError, match=r"cannot build the FASTA index x\.fa\.fai .*samtools faidx"):
        Fasta(tmp_path / "x.fa")


# ---- bad files ----------------
def test_plain_gzip_fasta(tmp_path):
    with gzip.open(tmp_path / "x.fa.gz", "wt") as fh:
        fh.write(">a\nACGT\n")
    with pytest.raises(InputError, match=r"plain gzip.*bgzip > .*x\.fa\.bgz && samtools faidx"):
        Fasta(tmp_path / "x.fa.gz")


def test_bgzf_fasta_made_by_pysam(tmp_path):
    _write_fasta(tmp_path / "x.fa", {"a": "ACGTNNacgt"})
    pysam.tabix_compress(str(tmp_path / "x.fa"), str(tmp_path / "x.fa.gz"))
    with Fasta(tmp_path / "x.fa.gz") as fa:
        assert fa.fetch("a", -1, 11) == "NACGTNNACGTN"


def test_missing_empty_and_not_fasta(tmp_path, data_dir):
    with pytest.raises(InputError, match="FASTA file not found"):
        Fasta(tmp_path / "nope.fa")
    (tmp_path / "empty.fa").write_text("")
    with pytest.raises(InputError, match="FASTA file is empty"):
        Fasta(tmp_path / "empty.fa")
    with pytest.raises(InputError, match="is not a FASTA file"):
        Fasta(data_dir / "ecoli_sim_svs.vcf")
    with pytest.raises(InputError, match="is not a FASTA file"):
        Fasta(data_dir / "chr20_indels.vcf.gz")  # BGZF, but a VCF inside
    with pytest.raises(InputError, match="is not a file"):
        Fasta(tmp_path)
