"""FASTA, VCF and BED readers and writers. No torch here."""
