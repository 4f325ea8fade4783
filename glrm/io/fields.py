"""The output vocabulary of glrm as data: INFO keys, status values and BED columns (spec: "Outputs").

`score-vcf` adds GLRM_LLR (causal models only), GLRM_MLR, GLRM_EMB and GLRM_STATUS; `score-sv` adds
GLRM_SV_EMB, GLRM_SV_LLR, GLRM_SV_REACH, GLRM_SV_BP and GLRM_STATUS. Every key is `Number=A`: one value per
ALT allele. The writers in `vcf_writer` and `bed` take these definitions; nothing here reads files.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from glrm.variants import Status


@dataclass(frozen=True)
class InfoField:
    """One INFO key as declared in the VCF header."""

    id: str
    number: str          # "A", "R", "G", ".", or a count such as "1"
    type: str            # "Float", "Integer", "String", "Flag"
    description: str

    def header_line(self) -> str:
        """The `##INFO=<...>` header line (no newline)."""
        desc = self.description.replace("\\", "\\\\").replace('"', '\\"')
        return f'##INFO=<ID={self.id},Number={self.number},Type={self.type},Description="{desc}">'


STATUS_VALUES: tuple[str, ...] = tuple(s.value for s in Status)
_STATUS_LIST = ", ".join(STATUS_VALUES)

GLRM_LLR = InfoField(
    "GLRM_LLR", "A", "Float",
    "glrm: log-likelihood ratio of the alt and ref haplotype windows (causal models; natural log)",
)
GLRM_MLR = InfoField(
    "GLRM_MLR", "A", "Float",
    "glrm: log-ratio of the alt and ref alleles at the variant positions given the ref context "
    "(SNV/MNV only; masked marginal for masked models; natural log)",
)
GLRM_MLR_TILE = InfoField(
    "GLRM_MLR", "A", "Float",
    "glrm --tile: log-ratio of the alt and ref alleles at the variant positions given the ref tile "
    "(SNV/MNV only; causal models: exact, log p(alt | tile prefix) - log p(ref | tile prefix); "
    "masked models: wild-type marginal read from the unmasked ref tile, no masking; natural log)",
)
GLRM_EMB = InfoField(
    "GLRM_EMB", "A", "Float",
    "glrm: cosine distance between mean last-layer embeddings of the ref and alt windows around the variant",
)
GLRM_STATUS = InfoField(
    "GLRM_STATUS", "A", "String",
    f"glrm: scoring outcome per ALT; scores are set only for OK ({_STATUS_LIST})",
)
GLRM_SV_EMB = InfoField(
    "GLRM_SV_EMB", "A", "Float",
    "glrm: cosine distance between mean last-layer embeddings of ref and alt over aligned flank positions",
)
GLRM_SV_LLR = InfoField(
    "GLRM_SV_LLR", "A", "Float",
    "glrm: summed change in log-probability (alt minus ref) over aligned flank positions around the event",
)
GLRM_SV_REACH = InfoField(
    "GLRM_SV_REACH", "A", "Integer",
    "glrm: farthest aligned flank distance (bp) where the embedding change is at least 10% of its maximum",
)
GLRM_SV_BP = InfoField(
    "GLRM_SV_BP", "A", "Integer",
    "glrm: breakpoint whose windows gave the values (1 = left, 2 = right; 1 for one-window events and BND)",
)

ALL_FIELDS: dict[str, InfoField] = {
    f.id: f
    for f in (GLRM_LLR, GLRM_MLR, GLRM_EMB, GLRM_STATUS, GLRM_SV_EMB, GLRM_SV_LLR, GLRM_SV_REACH, GLRM_SV_BP)
}


def score_vcf_fields(causal: bool) -> list[InfoField]:
    """INFO keys written by score-vcf, in output order. GLRM_LLR exists only for causal models."""
    scores = [GLRM_LLR, GLRM_MLR, GLRM_EMB] if causal else [GLRM_MLR, GLRM_EMB]
    return [*scores, GLRM_STATUS]


def score_sv_fields() -> list[InfoField]:
    """INFO keys written by score-sv, in output order."""
    return [GLRM_SV_EMB, GLRM_SV_LLR, GLRM_SV_REACH, GLRM_SV_BP, GLRM_STATUS]


BED_FIXED_COLUMNS: tuple[str, ...] = ("chrom", "start", "end", "name", "score", "strand")


def main_score(fields: list[InfoField]) -> str:
    """The key in the BED `score` column: GLRM_SV_EMB for SVs, else GLRM_LLR if present, else GLRM_MLR,
    else GLRM_EMB (a score-vcf run with `--scores emb` only)."""
    ids = [f.id for f in fields]
    for key in ("GLRM_SV_EMB", "GLRM_LLR", "GLRM_MLR", "GLRM_EMB"):
        if key in ids:
            return key
    raise ValueError(f"no main score among {ids}")


def bed_columns(fields: list[InfoField]) -> list[str]:
    """BED column names: the six fixed ones, one per score key, then GLRM_STATUS last."""
    scores = [f.id for f in fields if f.id != GLRM_STATUS.id]
    return [*BED_FIXED_COLUMNS, *scores, GLRM_STATUS.id]


_BAD_STRING_CHARS = frozenset(",;=\t\n\r ")


def format_value(field: InfoField, value: object) -> str:
    """One value as written in VCF INFO and BED cells: None and NaN -> '.', floats as `%.6g`.

    Floats: `Float` keys take any real number; `Integer` keys take whole numbers only; `String` keys take
    strings without `,;=` or whitespace (an enum member writes its value). Anything else is a ValueError:
    a caller bug, never user input.
    """
    if value is None:
        return "."
    if field.type == "String":
        text = value.value if isinstance(value, Status) else value
        if not isinstance(text, str) or not text or _BAD_STRING_CHARS.intersection(text):
            raise ValueError(f"{field.id}: {value!r} is not a valid VCF string value")
        return text
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{field.id}: {value!r} is not a number")
    x = float(value)
    if math.isnan(x):
        return "."
    if field.type == "Integer":
        if not x.is_integer():
            raise ValueError(f"{field.id}: {value!r} is not a whole number")
        return str(int(value))
    if field.type == "Float":
        return f"{x:.6g}"
    raise ValueError(f"{field.id}: cannot format values of Type={field.type}")
