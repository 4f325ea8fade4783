"""glrm: genomic long-range models for variant scoring."""

__version__ = "0.1.0"
