"""A checkpoint's vocabulary, read from its own tokenizer files (glrm.models.tokenizer.Vocabulary).

Where it comes from, first found (docs/models.md, "Tokenizers"):

1. `tokenizer.json` (a Hugging Face fast tokenizer, e.g. GPN's in PlantCaduceus): `model.vocab` must spell
   single characters (WordLevel, WordPiece, or BPE without merges), `normalizer` may lower-case, and
   `post_processor` (none, TemplateProcessing, BertProcessing, RobertaProcessing) says which special tokens
   the tokenizer adds. [MASK] / [PAD] names come from `tokenizer_config.json` when it is there.
2. `tokenizer_config.json` with a `characters` list (the HyenaDNA and Caduceus character tokenizers): the 7
   special tokens, then the characters from id 7; Caduceus' tokenizer upper-cases, HyenaDNA's does not.
3. No tokenizer file: the family's known default (`family_default`): the 12-token vocabulary, or GPN's for a
   Caduceus config whose `complement_map` pairs 3<->6 and 4<->5 (PlantCaduceus' layout).

A shape glrm cannot read (k-mer or BPE tokens, a normalizer that rewrites characters, a tokenizer_config.json
without `characters` and no tokenizer.json) is one InputError naming the file and the fix. No torch here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from glrm.dna import BASES
from glrm.errors import InputError
from glrm.models.registry import TOKENIZER_FILES
from glrm.models.tokenizer import DNA12, GPN, SEP, Vocabulary, character_vocabulary

__all__ = ["TOKENIZER_FILES", "family_default", "from_characters", "from_tokenizer_json", "model_max_length",
           "read_vocabulary"]

# Hugging Face writes this (int(1e30)) for model_max_length when a tokenizer was saved without one
_UNSET_LENGTH = 10**12

_NORMALIZERS = {"Lowercase", "NFC", "NFD", "NFKC", "NFKD", "Strip", "StripAccents"}
_PRE_TOKENIZERS = {"Whitespace", "WhitespaceSplit", "BertPreTokenizer", "Split", "CharDelimiterSplit",
                   "Punctuation", "Digits"}
_MODELS = {"WordLevel", "WordPiece", "BPE"}


def read_vocabulary(folder: Path, fmt: str, config: dict) -> Vocabulary:
    """The vocabulary of the checkpoint in `folder` (format `fmt`, parsed `config`); see the module doc."""
    folder = Path(folder)
    tok_json, tok_config = folder / "tokenizer.json", folder / "tokenizer_config.json"
    extra = _read_json(tok_config) if tok_config.is_file() else {}
    if tok_json.is_file():
        return from_tokenizer_json(tok_json, extra)
    if tok_config.is_file():
        if "characters" in extra:
            return from_characters(tok_config, extra, fmt)
        cls = extra.get("tokenizer_class", "no tokenizer_class")
        raise InputError(
            f"{tok_config}: no `characters` list ({cls}) and no tokenizer.json beside it, so glrm cannot "
            "tell the token ids; copy the checkpoint's tokenizer.json into the folder (`glrm models download "
            "NAME --force` fetches it), or remove tokenizer_config.json to use the family's default "
            "vocabulary")
    return family_default(folder, fmt, config)


def model_max_length(folder: Path) -> int | None:
    """`model_max_length` of tokenizer_config.json when it is a real length (not the 'unset' sentinel)."""
    path = Path(folder) / "tokenizer_config.json"
    if not path.is_file():
        return None
    value = _read_json(path).get("model_max_length")
    return value if isinstance(value, int) and 0 < value < _UNSET_LENGTH else None


# --- tokenizer.json ------------------------------------------------------------------------------


def from_tokenizer_json(path: Path, tok_config: dict | None = None) -> Vocabulary:
    """A single-character Hugging Face fast tokenizer (`tokenizer.json`) as a Vocabulary."""
    obj = _read_json(path)
    model = obj.get("model")
    kinds_ok = isinstance(model, dict) and model.get("type") in _MODELS
    if not kinds_ok or not isinstance(model.get("vocab"), dict):
        kind = model.get("type") if isinstance(model, dict) else type(model).__name__
        raise _unreadable(path, f"its model is {kind!r}; glrm reads WordLevel, WordPiece or BPE models with "
                          "a `vocab` object")
    if model.get("type") == "BPE" and model.get("merges"):
        raise _unreadable(path, f"BPE with {len(model['merges'])} merges makes multi-base tokens; glrm "
                          "scores single-nucleotide tokenizers only")
    specials = {t["content"]: int(t["id"]) for t in obj.get("added_tokens") or [] if t.get("special")}
    vocab = {str(k): int(v) for k, v in model["vocab"].items()} | specials
    multi = sorted(t for t in vocab if len(t) != 1 and t not in specials and not _bracketed(t))
    if multi:
        raise _unreadable(path, f"tokens of more than one character ({', '.join(multi[:4])}, ...); glrm "
                          "scores single-nucleotide tokenizers only")
    size = max(vocab.values()) + 1
    if sorted(vocab.values()) != list(range(size)):
        raise _unreadable(path, "its ids are not 0 .. n-1, one per token")
    tokens = tuple(sorted(vocab, key=vocab.get))
    lowers = _lowercases(path, obj.get("normalizer"))
    _check_pre_tokenizer(path, obj.get("pre_tokenizer"))

    def base_id(b: str) -> int:
        for spelling in ((b.lower(),) if lowers else (b, b.lower())):
            if spelling in vocab:
                return vocab[spelling]
        raise _unreadable(path, f"no token for the base {b}")

    nucleotides = tuple(base_id(b) for b in BASES)
    lower_case = tokens[nucleotides[0]].islower()
    unk_token = model.get("unk_token")
    n = vocab.get("n" if lower_case or lowers else "N")
    other = n if n is not None else vocab.get(unk_token) if unk_token else None
    if other is None:
        raise _unreadable(path, "neither an N token nor an unknown token (`unk_token`), so bases other than "
                          "A/C/G/T have no id")
    comp = list(range(size))
    a, c, g, t = nucleotides
    comp[a], comp[t], comp[c], comp[g] = t, a, g, c
    tok_config = tok_config or {}
    prefix, suffix = _post_processor(path, obj.get("post_processor"), vocab)
    return Vocabulary(
        name=path.name, tokens=tokens, nucleotides=nucleotides, other=other,
        mask=_named(tok_config, "mask_token", vocab, ("[MASK]", "<mask>")),
        pad=_named(tok_config, "pad_token", vocab, ("[PAD]", "<pad>")),
        unk=vocab.get(unk_token) if unk_token else None, complement=tuple(comp), prefix=prefix, suffix=suffix,
        lower_case=lower_case, folds_case=lowers, source=str(path))


def _bracketed(token: str) -> bool:
    return len(token) > 2 and token[0] + token[-1] in ("[]", "<>")


def _lowercases(path: Path, normalizer) -> bool:
    """True when the normalizer lower-cases; refuses normalizers that could rewrite bases."""
    if normalizer is None:
        return False
    items = normalizer.get("normalizers", []) if normalizer.get("type") == "Sequence" else [normalizer]
    kinds = [n.get("type") for n in items]
    bad = [k for k in kinds if k not in _NORMALIZERS]
    if bad:
        raise _unreadable(path, f"normalizer {bad[0]!r} may rewrite bases; glrm reads tokenizers whose "
                          f"normalizers are among {', '.join(sorted(_NORMALIZERS))}")
    return "Lowercase" in kinds


def _check_pre_tokenizer(path: Path, pre) -> None:
    if pre is None:
        return
    items = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    bad = [p.get("type") for p in items if p.get("type") not in _PRE_TOKENIZERS]
    if bad:
        raise _unreadable(path, f"pre-tokenizer {bad[0]!r} changes characters; glrm reads tokenizers that "
                          f"only split text ({', '.join(sorted(_PRE_TOKENIZERS))})")


def _post_processor(path: Path, post, vocab: dict[str, int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(prefix, suffix) special-token ids the tokenizer adds around one sequence."""
    if post is None:
        return (), ()
    kind = post.get("type")
    if kind in ("BertProcessing", "RobertaProcessing"):
        return (int(post["cls"][1]),), (int(post["sep"][1]),)
    if kind == "TemplateProcessing":
        prefix, suffix, seen = [], [], False
        for item in post.get("single", []):
            if "Sequence" in item:
                seen = True
            elif "SpecialToken" in item:
                name = item["SpecialToken"]["id"]
                ids = post.get("special_tokens", {}).get(name, {}).get("ids") or [vocab[name]]
                (suffix if seen else prefix).extend(int(i) for i in ids)
        return tuple(prefix), tuple(suffix)
    raise _unreadable(path, f"post-processor {kind!r}; glrm reads none, TemplateProcessing, BertProcessing "
                      "and RobertaProcessing")


def _named(tok_config: dict, key: str, vocab: dict[str, int], fallbacks: tuple[str, ...]) -> int | None:
    """The id of a special token named in tokenizer_config.json (a string or {"content": ...}), else of the
    first of `fallbacks` in the vocabulary, else None."""
    name = tok_config.get(key)
    if isinstance(name, dict):
        name = name.get("content")
    for token in ((name,) if isinstance(name, str) else ()) + fallbacks:
        if token in vocab:
            return vocab[token]
    return None


# --- tokenizer_config.json with `characters` ---------------------------------------------------------


def from_characters(path: Path, tok_config: dict, fmt: str) -> Vocabulary:
    """The HyenaDNA / Caduceus character tokenizer that `tokenizer_config.json` describes."""
    chars = tok_config.get("characters")
    if not isinstance(chars, list) or not chars or not all(isinstance(c, str) and len(c) == 1 for c in chars):
        raise _unreadable(path, f"`characters` is {chars!r}, not a list of single characters")
    comp = tok_config.get("complement_map")
    cls = str(tok_config.get("tokenizer_class") or "")
    try:
        return character_vocabulary(
            chars, name=path.name, source=str(path), folds_case="caduceus" in cls.lower(),
            prefix=(0,) if fmt == "hyenadna-orig" else (), suffix=(SEP,),
            complement=comp if isinstance(comp, dict) else None)
    except ValueError as exc:
        raise _unreadable(path, str(exc)) from None


# --- no tokenizer file -------------------------------------------------------------------------------


def _gpn_layout(config: dict) -> bool:
    """A Caduceus config whose complement_map pairs 3<->6 and 4<->5: GPN's ids (PlantCaduceus)."""
    cmap = config.get("complement_map")
    if not isinstance(cmap, dict):
        return False
    got = {str(k): v for k, v in cmap.items()}
    return all(got.get(str(k)) == v for k, v in ((3, 6), (6, 3), (4, 5), (5, 4)))


def family_default(folder: Path, fmt: str, config: dict) -> Vocabulary:
    """The vocabulary a checkpoint without tokenizer files uses: GPN's for a Caduceus config in GPN's layout
    (PlantCaduceus), else the 12-token one (with the special tokens of the format's official tokenizer)."""
    if fmt == "caduceus" and _gpn_layout(config):
        return replace(GPN, source=f"default for a Caduceus config with GPN's complement_map ({folder})")
    vocab_size = config.get("vocab_size")
    if isinstance(vocab_size, int) and vocab_size < DNA12.size:
        raise InputError(
            f"{folder}: no tokenizer.json or tokenizer_config.json, and config.json's vocab_size "
            f"{vocab_size} is smaller than the 12-token DNA vocabulary glrm would assume; copy the "
            "checkpoint's tokenizer files into the folder")
    prefix = (0,) if fmt == "hyenadna-orig" else ()
    return replace(DNA12, prefix=prefix, source=f"default for {fmt} checkpoints without tokenizer files")


# --- shared ------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({type(exc).__name__}); restore the checkpoint's "
                         "tokenizer files") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}); restore "
                         "the checkpoint's tokenizer files (re-download them)") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: holds a JSON {type(obj).__name__}, not an object; restore it")
    return obj


def _unreadable(path: Path, why: str) -> InputError:
    return InputError(f"{path}: {why}; glrm cannot map bases to this tokenizer's ids (remove the file to use "
                      "the family's default vocabulary only if the checkpoint really uses it)")
