"""Broken model files and failed writes end in one line, not a traceback: a cut `model.safetensors` (an
interrupted download), a safetensors file with a damaged header, a cut or overwritten `pytorch_model.bin`, a
cut Lightning `weights.ckpt`, weights of the wrong shape, and a damaged blob in the Hugging Face cache each
give `glrm: error: FILE: ...; download it again ...` with exit status 2 and no output; an output write that
fails during the run (a file-size limit, a full disk, a folder whose permissions change) names the output,
the cause and the fix, and leaves no output and no temporary file behind.

Everything goes through the real CLI. Damage is done to copies of tests/fixtures in tmp_path. Write failures
use real OS limits: RLIMIT_FSIZE (glrm ignores SIGXFSZ itself, so the write fails with EFBIG), a 16 KiB tmpfs
(needs root to mount, else skipped), and an output folder locked mid-run: `chmod a-w` (root ignores it, so as
root glrm runs as `nobody`, skipped where `nobody` cannot run this Python) and `chattr +i` (binds root too;
skipped unless root on a file system with the immutable attribute).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pathlib
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from glrm.cli.main import main

HERE = pathlib.Path(__file__).parent
FIX = HERE / "fixtures"
DATA = HERE / "data"
FASTA = str(DATA / "chr20_slice.fa.gz")
INDELS = str(DATA / "chr20_indels.vcf.gz")
GLRM = [sys.executable, "-c", "import sys; from glrm.cli.main import main; sys.exit(main(sys.argv[1:]))"]


def model_copy(tmp_path, name):
    folder = tmp_path / "models" / name
    shutil.copytree(FIX / name, folder)
    return folder


def score(model, out, *extra):
    return main(["score-vcf", "-i", INDELS, "-f", FASTA, "-m", str(model), "--window", "128", "-o", str(out),
                 "-q", *extra])


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("glrm: error: ")
    return lines[0]


# --- damaged checkpoints ----------------------------------------------------------------------------------

def cut_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_header(path):
    data = bytearray(path.read_bytes())
    data[8:20] = b"#garbage####"          # the first bytes of the JSON header
    path.write_bytes(bytes(data))


def overwrite_middle(path):
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 512] = bytes((b ^ 0x5A) for b in data[mid:mid + 512])   # same size, other bytes
    path.write_bytes(bytes(data))


def wrong_shape(path):
    state = load_file(str(path))
    key = sorted(state)[3]
    state[key] = torch.zeros(*[n + 1 for n in state[key].shape])
    save_file(state, str(path))


@pytest.mark.parametrize("fixture, weights, damage, says", [
    ("hyenadna-hf-tiny", "model.safetensors", cut_half, "incomplete: 87,184 of 174,368 bytes"),
    ("hyenadna-hf-tiny", "model.safetensors", damage_header, "damaged header"),
    ("mamba-lm-tiny", "pytorch_model.bin", cut_half, "incomplete: the end of its zip archive is missing"),
    ("mamba-lm-tiny", "pytorch_model.bin", overwrite_middle, "damaged (BadZipFile: Bad CRC-32"),
    ("hyenadna-orig-tiny", "weights.ckpt", cut_half, "incomplete"),
    ("caduceus-ph-tiny", "model.safetensors", wrong_shape, "weights do not match config.json: shape "),
])
def test_damaged_checkpoint_is_one_line_naming_the_file_and_the_fix(tmp_path, capsys, fixture, weights,
                                                                     damage, says):
    folder = model_copy(tmp_path, fixture)
    damage(folder / weights)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert score(folder, out_dir / "o.vcf.gz", "--bed", str(out_dir / "o.bed")) == 2
    line = one_line(capsys.readouterr().err)
    assert f"glrm: error: {folder / weights}: " in line and says in line
    assert f"`glrm models download REPO --dir {folder} --force`" in line
    assert list(out_dir.iterdir()) == []         # no output, no index, no temporary file


def test_damaged_blob_in_the_hugging_face_cache(tmp_path, monkeypatch, capsys):
    """A cached weight file is a link to blobs/<its SHA-256>; other bytes behind it (same size, a valid
    safetensors header) are found, and the fix names the model: `glrm models download NAME --force`."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    repo = cache / "models--kuleshov-group--caduceus-ps_seqlen-131k_d_model-256_n_layer-16"
    snap = repo / "snapshots" / "rev1"
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for f in ("config.json", "model.safetensors"):
        blob = repo / "blobs" / hashlib.sha256((FIX / "caduceus-ps-tiny" / f).read_bytes()).hexdigest()
        shutil.copy(FIX / "caduceus-ps-tiny" / f, blob)
        (snap / f).symlink_to(os.path.relpath(blob, snap))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("rev1")
    weights = (snap / "model.safetensors").resolve()
    data = bytearray(weights.read_bytes())
    data[-100:] = bytes(100)                       # tensor bytes zeroed: the file still parses
    weights.write_bytes(bytes(data))
    out = tmp_path / "o.vcf"
    assert score("caduceus-ps-131k", out) == 2
    line = one_line(capsys.readouterr().err)
    assert f"{snap / 'model.safetensors'}: damaged: its SHA-256 is " in line
    assert line.endswith("download it again with `glrm models download caduceus-ps-131k --force`")
    assert not out.exists()


def test_models_download_force_asks_for_every_file_again(monkeypatch, tmp_path, capsys):
    """`--force` (the fix the messages above give) reaches huggingface_hub as force_download."""
    calls = []

    def snapshot_download(repo, allow_patterns, local_dir, force_download, revision=None):
        calls.append((repo, force_download))
        assert revision == "main" and "tokenizer_config.json" in allow_patterns   # the registry's revision
        folder = tmp_path / "dl"
        folder.mkdir(exist_ok=True)
        for f in ("config.json", "model.safetensors"):
            shutil.copy(FIX / "caduceus-ph-tiny" / f, folder / f)
        return str(folder)

    hub = type(sys)("huggingface_hub")
    hub.snapshot_download = snapshot_download
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    assert main(["models", "download", "caduceus-ph-1k", "--force"]) == 0
    assert main(["models", "download", "caduceus-ph-1k"]) == 0
    repo = "kuleshov-group/caduceus-ph_seqlen-1k_d_model-118_n_layer-4_lr-8e-3"
    assert calls == [(repo, True), (repo, False)]


def test_damaged_safetensors_header_length(tmp_path, capsys):
    folder = model_copy(tmp_path, "hyenadna-hf-tiny")
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[:8] = struct.pack("<Q", 10 ** 12)
    path.write_bytes(bytes(data))
    assert main(["models", "info", str(folder)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "damaged header: its first 8 bytes give a header of 1,000,000,000,000 bytes" in line


# --- failed writes -----------------------------------------------------------------------------------------

def repeated_vcf(folder, times=2):
    """The indels, `times` over: an output past the writer's 64 KiB buffer, so writes happen mid-run."""
    with gzip.open(INDELS, "rt") as fh:
        lines = fh.read().splitlines()
    head = [x for x in lines if x.startswith("#")]
    body = [x for x in lines if not x.startswith("#")]
    path = folder / "in.vcf"
    path.write_text("\n".join(head + body * times) + "\n")
    return str(path)


def run_limited(limit, args, cwd):
    """glrm in a child process whose files may not grow past `limit` bytes (RLIMIT_FSIZE). SIGXFSZ is left
    at its default: glrm must ignore it itself, or the kernel kills it at the limit."""
    def child():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([*GLRM, *args], cwd=cwd, env=env, preexec_fn=child, capture_output=True, text=True,
                          timeout=300)


def vcf_args(vcf, out, *extra):
    return ["score-vcf", "-i", vcf, "-f", FASTA, "-m", str(FIX / "hyenadna-hf-tiny"), "--window", "128",
            "-o", str(out), "-q", "--no-version", "--threads", "1", *extra]


@pytest.mark.parametrize("name, limit, extra", [
    ("o.vcf", 50_000, []),                      # fails at the first 64 KiB flush, mid-run
    ("o.vcf.gz", 4_000, ["--bed", "o.bed"]),    # a BGZF block mid-run; BGZF reports no errno
    ("o.bcf", 9_000, []),                       # the bcftools bundled in pysam writes the BCF
])
def test_file_size_limit_mid_run(tmp_path, name, limit, extra):
    vcf = repeated_vcf(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    res = run_limited(limit, vcf_args(vcf, name, *extra), out_dir)
    assert res.returncode == 2, res.stderr
    line = one_line(res.stderr)
    assert f"the file-size limit (ulimit -f) is {limit:,} bytes" in line and "raise the limit" in line
    assert line.startswith("glrm: error: o.")
    assert list(out_dir.iterdir()) == []


def test_file_size_limit_on_the_checkpoint_then_resume(tmp_path):
    """A --resume run whose checkpoint hits the limit mid-run stops with one line naming the checkpoint file;
    once the limit is lifted, the same command continues and writes what an uninterrupted run writes."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = vcf_args(INDELS, "o.vcf.gz", "--resume")
    res = run_limited(6_000, args, out_dir)
    assert res.returncode == 2, res.stderr
    line = one_line(res.stderr)
    assert line.startswith("glrm: error: o.vcf.gz.glrm-resume/records.jsonl: cannot write the --resume "
                           "checkpoint (file too large")
    assert "run the same command again to continue from its " in line
    state = json.loads((out_dir / "o.vcf.gz.glrm-resume" / "state.json").read_text())
    assert 0 < state["records"] < 194
    assert sorted(p.name for p in out_dir.iterdir()) == ["o.vcf.gz.glrm-resume"]   # no output, no temp
    assert subprocess.run([*GLRM, *args], cwd=out_dir).returncode == 0
    assert subprocess.run([*GLRM, *vcf_args(INDELS, "ref.vcf.gz")], cwd=out_dir).returncode == 0
    assert (out_dir / "o.vcf.gz").read_bytes() == (out_dir / "ref.vcf.gz").read_bytes()


@pytest.fixture
def small_disk(tmp_path):
    """A 16 KiB tmpfs (a full disk in a few records); skipped where mounting is not allowed."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {res.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)]).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)])
            pytest.fail("the tmpfs stayed busy: a file on it was left open")


@pytest.mark.parametrize("name, extra", [
    ("o.vcf", []),
    ("o.vcf.gz", ["--bed", "BED"]),
    ("o.bcf", []),
])
def test_full_disk(small_disk, tmp_path, capsys, name, extra):
    vcf = repeated_vcf(tmp_path)
    extra = [str(small_disk / "o.bed") if x == "BED" else x for x in extra]
    assert main(vcf_args(vcf, small_disk / name, *extra)) == 2
    line = one_line(capsys.readouterr().err)
    assert f"glrm: error: {small_disk}/o." in line
    assert "(no space left on device, " in line and f"free in {small_disk}); free some space or write to " \
        "another file system" in line
    assert list(small_disk.iterdir()) == []


def test_full_disk_with_resume_keeps_the_checkpoint(small_disk, capsys):
    out = small_disk / "o.vcf.gz"
    assert main(vcf_args(INDELS, out, "--resume")) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"glrm: error: {out}.glrm-resume/records.jsonl: cannot write the --resume "
                           "checkpoint (no space left on device, ")
    assert "free some space, then run the same command again to continue" in line
    assert [p.name for p in small_disk.iterdir()] == ["o.vcf.gz.glrm-resume"]
    subprocess.run(["mount", "-o", "remount,size=1m", str(small_disk)], check=True)   # space freed
    assert main(vcf_args(INDELS, out, "--resume")) == 0
    assert sorted(p.name for p in small_disk.iterdir()) == ["o.vcf.gz", "o.vcf.gz.tbi"]


def _unprivileged():
    """A preexec_fn that runs a child as `nobody` (root ignores folder permissions), or None when this
    process is not root; skips when `nobody` cannot run this Python."""
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        nobody = pwd.getpwnam("nobody")
    except (ImportError, KeyError):
        pytest.skip("running as root, and there is no user `nobody` to run glrm as")

    def child():
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    try:
        ok = subprocess.run([sys.executable, "-c", "import glrm, torch"], preexec_fn=child,
                            capture_output=True).returncode == 0
    except OSError:
        ok = False
    if not ok:
        pytest.skip("running as root, and `nobody` cannot run this Python (its files are root-only); the "
                    "immutable-folder test covers root")
    return child


def _run_then_lock(out_dir, lock, preexec=None, base=None):
    """Start glrm on `out_dir/o.vcf`, wait until its temporary output is open (the run is scoring), call
    `lock(out_dir)`, and return (exit status, stderr)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", HOME=str(base or out_dir.parent))
    proc = subprocess.Popen([*GLRM, *vcf_args(INDELS, out_dir / "o.vcf", "--window", "512")],
                            cwd=base or out_dir.parent, env=env, preexec_fn=preexec, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not list(out_dir.glob(".o.vcf.tmp-*")):
        time.sleep(0.002)
    lock(out_dir)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def _check_locked_run(code, err, out_dir, why):
    """One line naming the output, the cause and the fix, and the one temporary file that could not be
    removed (deleting a file needs the same permission); nothing else is left."""
    assert code == 2, err
    line = one_line(err)
    left = sorted(out_dir.iterdir())
    assert len(left) == 1 and left[0].name.startswith(".o.vcf.tmp-")
    assert line.startswith(f"glrm: error: {out_dir}/o.vcf: cannot be written ({why}: {out_dir} no longer "
                           "lets glrm create, rename or delete files (were its permissions changed during "
                           "the run?)")
    assert line.endswith(f"make {out_dir} writable again or choose another output path; then delete the "
                         f"temporary file {left[0]} (it could not be removed)")


def test_output_folder_made_read_only_mid_run():
    """chmod a-w on the output folder while glrm runs: its open temporary output still takes writes, but
    renaming it into place fails. As root, glrm runs as `nobody` here (root ignores permissions)."""
    child = _unprivileged()
    base = pathlib.Path(tempfile.mkdtemp(prefix="glrm-ro-"))   # tmp_path's parents are root-only
    try:
        os.chmod(base, 0o755)
        out_dir = base / "out"
        out_dir.mkdir()
        if child is not None:
            import pwd

            os.chown(out_dir, pwd.getpwnam("nobody").pw_uid, -1)
        code, err = _run_then_lock(out_dir, lambda d: os.chmod(d, 0o555), child, base)
        os.chmod(out_dir, 0o755)
        _check_locked_run(code, err, out_dir, "Permission denied")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_output_folder_made_immutable_mid_run(tmp_path):
    """The same as root: `chattr +i` on the folder mid-run binds root too (Operation not permitted)."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("needs root and chattr")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    if subprocess.run(["chattr", "+i", str(out_dir)], capture_output=True).returncode != 0:
        pytest.skip(f"the file system under {tmp_path} has no immutable attribute")
    subprocess.run(["chattr", "-i", str(out_dir)], check=True)
    try:
        code, err = _run_then_lock(out_dir, lambda d: subprocess.run(["chattr", "+i", str(d)], check=True))
    finally:
        subprocess.run(["chattr", "-i", str(out_dir)], check=True)
    _check_locked_run(code, err, out_dir, "Operation not permitted")
