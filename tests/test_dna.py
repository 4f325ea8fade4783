"""The one rule for reading bases (glrm.dna): the FASTA reader, the window builders and the tokenizer agree on
every character, ASCII or not."""

from glrm import dna
from glrm.io.fasta import Fasta
from glrm.models.tokenizer import decode, encode
from glrm.windows import normalize, revcomp

# every 8-bit character, some beyond (non-ASCII letters, a combining mark, an emoji) and the IUPAC codes
ALL = "".join(chr(i) for i in range(1, 256)) + "\u0100\u0301\U0001F600RYKMSWBDHVN-*.acgtACGT"


def test_normalize_keeps_acgt_upper_cases_and_reads_everything_else_as_n():
    assert dna.normalize("acgtACGT") == "ACGTACGT"
    assert dna.normalize("RYKMSWBDHVN-*.") == "N" * 14
    assert dna.normalize("ac\u00e9t\u0100") == "ACNTN"     # non-ASCII: N, never passed through
    out = dna.normalize(ALL)
    assert len(out) == len(ALL) and set(out) <= set("ACGTN")


def test_revcomp_of_every_character():
    assert dna.revcomp("AACgtN-") == "NNACGTT"
    assert dna.revcomp(ALL) == dna.normalize(ALL)[::-1].translate(str.maketrans("ACGT", "TGCA"))


def test_windows_and_tokenizer_use_the_same_rule():
    assert normalize is dna.normalize and revcomp is dna.revcomp
    assert decode(encode(ALL)) == dna.normalize(ALL)   # one token per character, the same base


def test_fasta_reads_bases_by_the_same_rule(tmp_path):
    seq = "acgtRYN-kmACGT" + "x" * 6
    (tmp_path / "g.fa").write_text(">c\n" + seq + "\n")
    with Fasta(tmp_path / "g.fa") as fa:
        assert fa.fetch("c", 0, len(seq)) == dna.normalize(seq)
