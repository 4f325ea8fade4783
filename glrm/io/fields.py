"""The output vocabulary of glrm as data: INFO keys, the scores behind them, status values and BED columns
(docs/definitions.md).

`score-vcf` adds the keys of the `--scores` asked for (SCORE_FIELDS: GLRM_LLR, GLRM_CLLR, GLRM_MLR, GLRM_EMB
and the published recipes GLRM_EVO2, GLRM_GPN_LLR, GLRM_GPN_COS, GLRM_GPN_EUC) and GLRM_STATUS; `score-sv`
adds GLRM_SV_EMB, GLRM_SV_LLR, GLRM_SV_REACH, GLRM_SV_BP and GLRM_STATUS. Every key is `Number=A`: one value
per ALT allele. The writers in `vcf_writer` and `bed` take these definitions; nothing here reads files.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from glrm.defaults import DEFAULT_SCORES
from glrm.errors import InputError
from glrm.variants import HapStatus, Status


@dataclass(frozen=True)
class InfoField:
    """One INFO key (or, with kind "FORMAT", one FORMAT key) as declared in the VCF header."""

    id: str
    number: str          # "A", "R", "G", ".", or a count such as "1"
    type: str            # "Float", "Integer", "String", "Flag"
    description: str
    kind: str = "INFO"   # "INFO" or "FORMAT"

    def header_line(self) -> str:
        """The `##INFO=<...>` (or `##FORMAT=<...>`) header line (no newline)."""
        desc = self.description.replace("\\", "\\\\").replace('"', '\\"')
        return f'##{self.kind}=<ID={self.id},Number={self.number},Type={self.type},Description="{desc}">'


STATUS_VALUES: tuple[str, ...] = tuple(s.value for s in Status)
_STATUS_LIST = ", ".join(STATUS_VALUES)

GLRM_LLR = InfoField(
    "GLRM_LLR", "A", "Float",
    "glrm: log-likelihood ratio of the alt and ref haplotype windows (causal models; natural log)",
)
GLRM_CLLR = InfoField(
    "GLRM_CLLR", "A", "Float",
    "glrm: centred log-likelihood ratio: GLRM_LLR with each allele base's log-probability taken relative to "
    "its expected value under the model, so indels of different lengths rank together (causal models; "
    "natural log)",
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
GLRM_EVO2 = InfoField(
    "GLRM_EVO2", "A", "Float",
    "glrm recipe evo2 (Evo 2 delta): mean log-likelihood of the alt window minus that of the ref window, "
    "over "    "positions 1..W-1 with the full vocabulary (causal models; natural log)",
)
GLRM_GPN_LLR = InfoField(
    "GLRM_GPN_LLR", "A", "Float",
    "glrm recipe gpn_llr (GPN LLR): logit of ALT minus logit of REF at the masked variant position, mean "
    "of both strands of the window (masked models; SNVs only; natural log)",
)
GLRM_GPN_COS = InfoField(
    "GLRM_GPN_COS", "A", "Float",
    "glrm recipe gpn_cos (GPN cosine distance): 1 - cos of the last hidden states of the whole ref and alt "
    "windows, flattened, mean of both strands (SNVs and MNVs)",
)
GLRM_GPN_EUC = InfoField(
    "GLRM_GPN_EUC", "A", "Float",
    "glrm recipe gpn_euc (GPN Euclidean distance): distance between the last hidden states of the whole ref "
    "and alt windows, flattened, mean of both strands (SNVs and MNVs)",
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

# --scores names -> INFO keys, in output order; the kinds of model each is defined for
SCORE_FIELDS: dict[str, InfoField] = {
    "llr": GLRM_LLR, "cllr": GLRM_CLLR, "mlr": GLRM_MLR, "emb": GLRM_EMB,
    "evo2": GLRM_EVO2, "gpn_llr": GLRM_GPN_LLR, "gpn_cos": GLRM_GPN_COS, "gpn_euc": GLRM_GPN_EUC,
}
RECIPES: tuple[str, ...] = ("evo2", "gpn_llr", "gpn_cos", "gpn_euc")   # published recipes, by name
CAUSAL_ONLY = frozenset({"llr", "cllr", "evo2"})
MASKED_ONLY = frozenset({"gpn_llr"})
BOTH_STRANDS = frozenset({"gpn_llr", "gpn_cos", "gpn_euc"})   # recipes that always average both strands

# The version of the score and window definitions (docs/definitions.md) a file was scored under, written as
# `Definitions=` in ##glrm_model; `glrm merge` refuses shards of different versions. Files without the key
# were scored under version 1 (glrm before left-alignment, GLRM_CLLR and same-span SV windows).
DEFINITIONS_VERSION = 2

ALL_FIELDS: dict[str, InfoField] = {
    f.id: f
    for f in (*SCORE_FIELDS.values(), GLRM_STATUS, GLRM_SV_EMB, GLRM_SV_LLR, GLRM_SV_REACH, GLRM_SV_BP)
}


def defined_for(name: str, causal: bool) -> bool:
    """Whether the score `name` (a --scores name) is defined for a causal (True) or masked (False) model."""
    return name not in (MASKED_ONLY if causal else CAUSAL_ONLY)


def needs_mirror(scores, rc: str, n: int, m: int) -> bool:
    """Whether an allele of REF length n and ALT length m is scored on the reverse strand too: always with
    --rc mean, and for SNVs/MNVs when a both-strand recipe (BOTH_STRANDS) is among `scores`."""
    return rc == "mean" or (n == m and bool(BOTH_STRANDS.intersection(scores)))


def tile_conflict(scores) -> str | None:
    """Why `--tile` cannot give these scores (the published recipes score windows centred on the variant,
    as their authors did), or None."""
    recipes = [s for s in scores if s in RECIPES]
    if not recipes:
        return None
    return (f"--tile with --scores {','.join(recipes)}: the published recipes score windows centred on the "
            "variant, as their authors did; drop --tile for them")


def check_scores(scores, tile: bool = False) -> None:
    """`scores` is a non-empty subset of SCORE_FIELDS, and with `tile` holds none that --tile cannot give."""
    if not scores or any(s not in SCORE_FIELDS for s in scores):
        raise InputError(f"--scores {','.join(scores)!r}: give a comma-separated subset of "
                         f"{','.join(SCORE_FIELDS)}")
    conflict = tile_conflict(scores) if tile else None
    if conflict:
        raise InputError(conflict)


def score_vcf_fields(causal: bool | None = None,
                     scores: tuple[str, ...] = DEFAULT_SCORES) -> list[InfoField]:
    """INFO keys written by score-vcf, in output order, GLRM_STATUS last: the `scores` asked for, only those
    defined for the model kind when `causal` is given (True or False)."""
    names = [n for n in SCORE_FIELDS if n in scores]
    picked = [SCORE_FIELDS[n] for n in names if causal is None or defined_for(n, causal)]
    return [*picked, GLRM_STATUS]


def score_sv_fields() -> list[InfoField]:
    """INFO keys written by score-sv, in output order."""
    return [GLRM_SV_EMB, GLRM_SV_LLR, GLRM_SV_REACH, GLRM_SV_BP, GLRM_STATUS]


# --- score-haplotypes (docs/score-haplotypes.md) ----------------------------------------------------------
# INFO (Number=A): per score S the reference-background value under score-vcf's own key (GLRM_S), then
# GLRM_HAP_S_MEAN/_MIN/_MAX over the haplotypes scored, GLRM_HAP_N, GLRM_HAP_N_UNIQUE and GLRM_STATUS.
# FORMAT (Number=.): per ALT, then per haplotype slot ("ALT-major": a1h1,a1h2,a2h1,a2h2,...), GLRM_HAP_S,
# GLRM_HAP_BG and GLRM_HAP_STATUS.

HAP_STATUS_VALUES: tuple[str, ...] = (*STATUS_VALUES, *(s.value for s in HapStatus))

GLRM_HAP_N = InfoField(
    "GLRM_HAP_N", "A", "Integer",
    "glrm score-haplotypes: haplotypes scored (GLRM_HAP_STATUS OK) for this ALT",
)
GLRM_HAP_N_UNIQUE = InfoField(
    "GLRM_HAP_N_UNIQUE", "A", "Integer",
    "glrm score-haplotypes: distinct backgrounds (sets of the haplotype's own alleles inside the windows) "
    "among the haplotypes scored; each was scored once",
)
GLRM_HAP_BG = InfoField(
    "GLRM_HAP_BG", ".", "Integer",
    "glrm score-haplotypes: background of each haplotype, per ALT then haplotype: 0 = the reference (no "
    "allele of its own in the windows), k = the k-th distinct background of this record and ALT",
    kind="FORMAT",
)
GLRM_HAP_STATUS = InfoField(
    "GLRM_HAP_STATUS", ".", "String",
    "glrm score-haplotypes: outcome per ALT then haplotype; scores are set only for OK "
    f"({', '.join(HAP_STATUS_VALUES)})",
    kind="FORMAT",
)


def hap_score_fields(name: str) -> tuple[InfoField, InfoField, InfoField, InfoField]:
    """(FORMAT per haplotype, INFO mean, min, max) of the --scores name `name`: GLRM_HAP_S, GLRM_HAP_S_MEAN,
    GLRM_HAP_S_MIN, GLRM_HAP_S_MAX, where GLRM_S is score-vcf's key."""
    key = SCORE_FIELDS[name].id.removeprefix("GLRM_")
    what = f"GLRM_{key} of the ALT"
    return (
        InfoField(f"GLRM_HAP_{key}", ".", "Float",
                  f"glrm score-haplotypes: {what} in each haplotype's own background, per ALT then haplotype",
                  kind="FORMAT"),
        InfoField(f"GLRM_HAP_{key}_MEAN", "A", "Float",
                  f"glrm score-haplotypes: mean of {what} over the haplotypes scored"),
        InfoField(f"GLRM_HAP_{key}_MIN", "A", "Float",
                  f"glrm score-haplotypes: least {what} over the haplotypes scored"),
        InfoField(f"GLRM_HAP_{key}_MAX", "A", "Float",
                  f"glrm score-haplotypes: greatest {what} over the haplotypes scored"),
    )


BED_FIXED_COLUMNS: tuple[str, ...] = ("chrom", "start", "end", "name", "score", "strand")


def main_score(fields: list[InfoField]) -> str:
    """The key in the BED `score` column: GLRM_SV_EMB for SVs, else the first present of GLRM_CLLR (causal
    models: ranks indels of every length together), GLRM_LLR, GLRM_MLR, GLRM_EMB, then the recipes."""
    ids = [f.id for f in fields]
    for key in ("GLRM_SV_EMB", "GLRM_CLLR", "GLRM_LLR", "GLRM_MLR", "GLRM_EMB", "GLRM_EVO2", "GLRM_GPN_LLR",
                "GLRM_GPN_COS", "GLRM_GPN_EUC"):
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
