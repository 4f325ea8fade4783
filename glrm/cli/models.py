"""`glrm models`: list the known checkpoints, describe one, download one (the only networked command), check
one on real sequence.

stdout carries data only (tab-separated); progress and hints go to stderr. torch and huggingface_hub are
imported inside the commands that need them, so `glrm --help` stays instant.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from glrm.cli._options import DEVICE
from glrm.errors import GlrmError, InputError
from glrm.models import registry

app = typer.Typer(
    name="models",
    help="Known checkpoints: list them, describe one, download one, check one on real sequence.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _tsv(*fields: object) -> None:
    typer.echo("\t".join(str(f) for f in fields))


LIST_COLUMNS = ("name", "family", "kind", "d_model", "n_layer", "trained_bases", "max_tokens", "vocab",
                "license", "revision", "repo_id", "cached")


@app.command("list")
def list_models() -> None:
    """Known models: family, kind, size (d_model, n_layer), trained context, vocabulary, license, the revision
    `download` fetches, the Hugging Face repo and the local cache status (TSV)."""
    _tsv(*LIST_COLUMNS)
    for m in registry.KNOWN_MODELS.values():
        snap = registry.cached_snapshot(m.repo_id, revision=m.revision)
        revision = m.revision if m.pinned else f"{m.revision} (unpinned)"
        _tsv(m.name, m.family, m.kind, m.d_model, m.n_layer, m.trained_length, m.max_length, m.vocab,
             m.license, revision, m.repo_id, snap if snap else "no")


@app.command("info")
def info(
    model: str = typer.Argument(..., metavar="PATH_OR_NAME", help="Checkpoint folder or known model name."),
) -> None:
    """Load a checkpoint on the CPU and print what glrm sees in it (TSV: key, value)."""
    from glrm.models.loading import inspect_checkpoint, load_model

    loaded = load_model(model)
    info = loaded.info
    ckpt = inspect_checkpoint(model)
    cfg = ckpt.config
    vocab = cfg.get("vocab_size")
    multiple = cfg.get("pad_vocab_size_multiple", 1) or 1
    padded = -(-vocab // multiple) * multiple if isinstance(vocab, int) else None
    variant = ""
    if ckpt.format == "caduceus":
        variant = "ps (rcps)" if cfg.get("rcps") else "ph"
    rows = [
        ("name", ckpt.name),
        ("checkpoint", ckpt.folder),
        ("weights", ckpt.weights.name),
        ("format", ckpt.format + (f" {variant}" if variant else "")),
        ("family", info.family),
        ("kind", info.kind),
        ("rc_equivariant", str(info.rc_equivariant).lower()),
        ("parameters", sum(p.numel() for p in loaded.parameters())),
        ("max_length", f"{info.max_length} tokens ({info.max_length_source})"),
        ("vocab_size", f"{vocab} (padded to {padded})" if padded and padded != vocab else vocab),
        ("tokenizer", info.tokenizer),
        ("d_model", cfg.get("d_model")),
        ("n_layer", cfg.get("n_layer")),
        ("dtype", info.stored_dtype),
        ("sha256", info.sha256),
    ]
    for key, value in rows:
        _tsv(key, value)


@app.command("download")
def download(
    name: str = typer.Argument(
        ..., metavar="NAME", help="Known model name (see `glrm models list`) or Hugging Face repo id."
    ),
    dir: Path | None = typer.Option(
        None, "--dir", help="Download into this folder instead of the Hugging Face cache."
    ),
    force: bool = typer.Option(
        False, "--force", help="Download every file again, even one already there (a damaged or cut copy)."
    ),
) -> None:
    """Download a checkpoint (config.json, weights, tokenizer files) from the Hugging Face Hub; prints the
    folder."""
    known = registry.KNOWN_MODELS.get(name.lower()) or (registry.known_by_repo(name) if "/" in name else None)
    revision = known.revision if known is not None else None
    if known is not None:
        repo = known.repo_id
    elif registry.REPO_ID.match(name):
        repo = name
    else:
        raise InputError(
            f"model {name!r} is not a known name or a Hugging Face repo id (org/name); "
            f"known names: {', '.join(registry.KNOWN_MODELS)}"
        )
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise GlrmError(
            "`glrm models download` needs huggingface_hub; install it from the glrm checkout with "
            ".venv/bin/pip install -e '.[hub]'"
        ) from None
    local_dir = str(dir) if dir is not None else None
    typer.echo(f"glrm: downloading {repo} ...", err=True)
    try:
        # safetensors first; the pickle-based files only when a repo has no safetensors; tokenizer files
        # both times (registry.download_patterns), code never
        where = dict(revision=revision, local_dir=local_dir, force_download=force)
        folder = Path(snapshot_download(repo, allow_patterns=registry.download_patterns(True), **where))
        if not (folder / "model.safetensors").is_file():
            folder = Path(snapshot_download(repo, allow_patterns=registry.download_patterns(False), **where))
    except Exception as exc:  # network, auth, missing repo, offline mode: one line, with the fix
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        detail = (str(exc).strip().splitlines() or [""])[0][:160]
        raise GlrmError(
            f"cannot download {repo} from {endpoint} ({type(exc).__name__}: {detail}); check the network "
            "connection, HF_ENDPOINT and HF_HUB_OFFLINE, or download the folder elsewhere and pass it with -m"
        ) from None
    if not registry.usable(folder):
        raise GlrmError(
            f"{repo}: downloaded to {folder}, but it holds no config.json plus weight file "
            f"({', '.join(registry.WEIGHT_FILES)}); it is not a checkpoint glrm can read"
        )
    typer.echo(str(folder))


@app.command("check")
def check(
    model: str = typer.Argument(..., metavar="PATH_OR_NAME", help="Checkpoint folder or known model name."),
    fasta: str = typer.Option(..., "--fasta", "-f", metavar="FASTA", help="Reference FASTA (indexed or "
                              "indexable) to take real windows from."),
    regions: str = typer.Option(None, "--regions", "-r", metavar="REGION",
                                help="Take the windows from these regions (chr, chr:beg-end, "
                                     "comma-separated). Default: every contig, in FASTA order."),
    windows: int = typer.Option(8, "--windows", "-n", metavar="N", help="Windows to score."),
    window: int = typer.Option(None, "--window", "-w", metavar="W",
                               help="Window length in bases. Default: 1024, or the model's trained context "
                                    "when shorter."),
    seed: int = typer.Option(0, "--seed", help="Seed of the shuffles (and of the masked positions)."),
    device: str = DEVICE,
    strict: bool = typer.Option(False, "--strict",
                                help="Exit with status 1 when the check flags the model (default: 0, with a "
                                     "warning)."),
) -> None:
    """Per-base loss of MODEL on real windows of FASTA against the same windows shuffled: a wrong token
    mapping cannot hide (TSV table on stdout, verdict on stderr; docs/models.md).

    Example: glrm models check examples/demo/model -f examples/demo/chr20_demo.fa.gz
    """
    from glrm.pipeline.check import CheckOptions, run_check

    result = run_check(CheckOptions(model=model, fasta=fasta, regions=regions, windows=windows, window=window,
                                    seed=seed, device=device, strict=strict))
    typer.echo(result.table(), nl=False)
    typer.echo(result.verdict(), err=True)
    if strict and result.flagged:
        raise typer.Exit(1)
