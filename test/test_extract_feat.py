"""utility/extract_feat.py (s3prl.extract): golden mode, corpus mode, resume, atomic writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

import s3prl.extract as ex
import s3prl.hub as hub
from s3prl.util.audio import load_audio, sample_speech_files
from s3prl.util.extract import hidden_states_of_files

REPO = Path(__file__).resolve().parents[1]
LIBRI = REPO / "sample_speech" / "librispeech_3005-163389-0007.flac"
CV = REPO / "sample_speech" / "commonvoice_fr_17299458.wav"


def example_frames(samples: int) -> int:
    return (samples - 400) // 160 + 1


def model_alone(wav: torch.Tensor) -> list[torch.Tensor]:
    model = hub.example().eval()
    with torch.no_grad():
        out = model([wav])
    n = int(out["hidden_states_len"][0])
    return [h[0, :n] for h in out["hidden_states"]]


@pytest.fixture
def corpus(tmp_path) -> Path:
    """Nested folders: a flac, a stereo 44.1 kHz wav, a too-short wav, an unreadable wav."""
    root = tmp_path / "corpus"
    (root / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(LIBRI, root / "sub" / "a.flac")
    mono = load_audio(CV).numpy()
    x44 = soxr.resample(mono, 16000, 44100)
    stereo = np.stack([x44, 0.5 * x44], axis=1).astype(np.float32)
    sf.write(root / "sub" / "deeper" / "b.wav", stereo, 44100)
    sf.write(root / "short.wav", np.zeros(200, dtype=np.float32), 16000)
    (root / "broken.wav").write_bytes(b"RIFF\x00\x00 definitely not audio")
    (root / "notes.txt").write_text("not audio")
    return root


def run(argv, capsys):
    rc = ex.main([str(a) for a in argv] + ["--quiet"])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_name_mode_equals_hidden_states_of_files(tmp_path, capsys):
    rc, out, _ = run(["example", tmp_path], capsys)
    assert rc == 0
    got = torch.load(tmp_path / "example.pt", weights_only=True)
    ref = hidden_states_of_files(hub.example(), sample_speech_files())
    assert got["files"] == ref["files"] == [f.name for f in sample_speech_files()]
    assert got["downsample_rate"] == 160
    for g_layers, r_layers in zip(got["hidden_states"], ref["hidden_states"]):
        assert len(g_layers) == 3
        for g, r in zip(g_layers, r_layers):
            assert g.dtype == torch.float32 and g.shape == r.shape
            assert torch.equal(g, r)
    assert "4 files: 4 written" in out and "real-time factor" in out
    # second run: the file exists and is kept
    mtime = (tmp_path / "example.pt").stat().st_mtime_ns
    rc, out, _ = run(["example", tmp_path], capsys)
    assert rc == 0 and "exists, skipped" in out
    assert (tmp_path / "example.pt").stat().st_mtime_ns == mtime


def test_wav_dir_mirrors_paths_and_reports_failures(corpus, tmp_path, capsys):
    out_dir = tmp_path / "out"
    rc, out, err = run(["example", out_dir, "--wav-dir", corpus], capsys)
    assert rc == 1  # two files failed
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.pt"))
    assert written == ["sub/a.pt", "sub/deeper/b.pt"]
    assert not list(out_dir.rglob("*.tmp"))
    assert "short.wav" in err and "too short" in err and "400 samples" in err
    assert "broken.wav" in err and "cannot read" in err
    assert "4 files: 2 written, 0 skipped, 2 failed" in out
    assert "s of audio in" in out and "s wall" in out and "real-time factor" in out

    rec = torch.load(out_dir / "sub" / "a.pt", weights_only=True)
    assert rec["layers"] == [0, 1, 2] and rec["downsample_rate"] == 160
    assert rec["sample_rate"] == 16000 and rec["source"] == "sub/a.flac"
    wav_a = load_audio(LIBRI)
    assert rec["hidden_states"][0].shape == (example_frames(wav_a.numel()), 16)
    for g, r in zip(rec["hidden_states"], model_alone(wav_a)):
        assert (g - r).abs().max().item() <= 1e-5

    # the stereo 44.1 kHz file: mixed down (mean of channels) and resampled to 16 kHz
    data, sr = sf.read(corpus / "sub" / "deeper" / "b.wav", dtype="float32")
    assert sr == 44100 and data.shape[1] == 2
    wav_b = torch.from_numpy(soxr.resample(data.mean(axis=1), 44100, 16000, quality="HQ"))
    rec_b = torch.load(out_dir / "sub" / "deeper" / "b.pt", weights_only=True)
    assert rec_b["hidden_states"][2].shape == (example_frames(wav_b.numel()), 16)
    for g, r in zip(rec_b["hidden_states"], model_alone(wav_b)):
        assert (g - r).abs().max().item() <= 1e-5

    lines = [json.loads(s) for s in (out_dir / "manifest.jsonl").read_text().splitlines()]
    assert [(m["utterance"], m["output"], m["frames"]) for m in lines] == [
        ("sub/a", "sub/a.pt", example_frames(wav_a.numel())),
        ("sub/deeper/b", "sub/deeper/b.pt", example_frames(wav_b.numel())),
    ]


def test_resume_skips_existing_outputs(corpus, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert run(["example", out_dir, "--wav-dir", corpus], capsys)[0] == 1
    a, b = out_dir / "sub" / "a.pt", out_dir / "sub" / "deeper" / "b.pt"
    mtimes = {p: p.stat().st_mtime_ns for p in (a, b)}
    rc, out, _ = run(["example", out_dir, "--wav-dir", corpus], capsys)
    assert rc == 1 and "0 written, 2 skipped, 2 failed" in out
    assert {p: p.stat().st_mtime_ns for p in (a, b)} == mtimes
    b.unlink()
    rc, out, _ = run(["example", out_dir, "--wav-dir", corpus], capsys)
    assert "1 written, 1 skipped" in out and b.is_file() and a.stat().st_mtime_ns == mtimes[a]
    assert len((out_dir / "manifest.jsonl").read_text().splitlines()) == 2
    rc, out, _ = run(["example", out_dir, "--wav-dir", corpus, "--overwrite"], capsys)
    assert "2 written, 0 skipped" in out


def test_killed_write_leaves_no_partial_file(corpus, tmp_path, capsys, monkeypatch):
    (corpus / "short.wav").unlink()
    (corpus / "broken.wav").unlink()
    out_dir = tmp_path / "out"
    real_writer = ex.WRITERS["pt"]
    calls = []

    def dying_writer(record, f):
        calls.append(record["source"])
        if len(calls) == 2:  # the process "dies" half way through the second file
            f.write(b"half a file")
            raise KeyboardInterrupt
        real_writer(record, f)

    monkeypatch.setitem(ex.WRITERS, "pt", dying_writer)
    with pytest.raises(KeyboardInterrupt):
        ex.main(["example", str(out_dir), "--wav-dir", str(corpus), "--quiet", "--num-workers", "0"])
    capsys.readouterr()
    finals = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.pt"))
    assert len(finals) == 1  # the first file only, complete
    assert not [p for p in out_dir.rglob("*") if p.is_file() and p.suffix != ".pt"]
    torch.load(out_dir / finals[0], weights_only=True)

    # a SIGKILLed run leaves its temporary file behind: the next run ignores and removes it
    # (its writer, a process that has exited, is provably gone)
    stale = out_dir / "sub" / f".a.pt.{_dead_pid()}.tmp"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"partial")
    monkeypatch.setitem(ex.WRITERS, "pt", real_writer)
    rc, out, _ = run(["example", out_dir, "--wav-dir", corpus], capsys)
    assert rc == 0 and "1 written, 1 skipped, 0 failed" in out
    assert not stale.exists() and not list(out_dir.rglob("*.tmp"))
    assert sorted(p.name for p in out_dir.rglob("*.pt")) == ["a.pt", "b.pt"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid  # exited and reaped: no process has this id (until it is reused)


_SLOW_WRITER = r"""
import sys
from pathlib import Path
from s3prl.extract.output import write_atomic

def write(data, f):
    f.write(data[:4])
    f.flush()
    print("in flight", flush=True)
    sys.stdin.readline()  # the other writer runs now
    f.write(data[4:])

write_atomic(Path(sys.argv[1]), write, b"child's complete output")
print("done", flush=True)
"""


def test_two_writers_of_one_output_keep_each_others_temporary_file(tmp_path):
    """Two extractions on one output folder: a writer never deletes another one's file in flight;
    only temporary files of gone processes on this host are removed."""
    final = tmp_path / "out" / "a.pt"
    final.parent.mkdir()
    import re
    import socket

    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())  # as written in the name
    dead = final.parent / f".a.pt.{_dead_pid()}.0badc0de@{host}.tmp"
    alive_elsewhere = final.parent / f".a.pt.{_dead_pid()}.0badc0de@another-host.tmp"
    for p in (dead, alive_elsewhere):
        p.write_bytes(b"left over")
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(final)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline() == "in flight\n"
        in_flight = [p for p in final.parent.glob(".a.pt.*.tmp") if p not in (dead, alive_elsewhere)]
        assert len(in_flight) == 1 and f".{child.pid}." in in_flight[0].name
        ex.write_atomic(final, lambda d, f: f.write(d), b"parent's output")
        assert final.read_bytes() == b"parent's output"
        assert in_flight[0].is_file()  # the child's file in flight is kept
        assert not dead.exists()  # its writer is gone on this host: removed
        assert alive_elsewhere.is_file()  # another host's pid cannot be checked: kept
        out, err = child.communicate("go\n", timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out == "done\n" and final.read_bytes() == b"child's complete output"
    assert sorted(p.name for p in final.parent.iterdir()) == [alive_elsewhere.name, "a.pt"]


def test_dangling_link_and_truncated_wav_are_reported(tmp_path, capsys):
    """--wav-dir: a .wav symlink to nothing and a WAV cut short (body shorter than its header
    declares) are reported and skipped, not silently ignored or extracted at the length present."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(LIBRI, src / "good.flac")
    wav = (np.random.RandomState(0).randn(16000) * 0.1).astype(np.float32)
    sf.write(src / "full.wav", wav, 16000, subtype="PCM_16")  # 16000 frames, 2 bytes each
    body = (src / "full.wav").read_bytes()
    (src / "cut.wav").write_bytes(body[: 44 + 2 * 6000])  # 44-byte header + 6000 frames
    (src / "ghost.wav").symlink_to(tmp_path / "moved_away.wav")
    assert sf.info(str(src / "cut.wav")).frames == 6000  # what libsndfile alone would extract
    rc, out, err = run(["example", tmp_path / "out", "--wav-dir", src], capsys)
    assert rc == 1 and "4 files: 2 written, 0 skipped, 2 failed" in out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.pt")) == ["full.pt", "good.pt"]
    lines = {ln.split(": ", 1)[0].strip(): ln for ln in err.splitlines() if ln.startswith("  ")}
    assert "dangling symbolic link" in lines[str(src / "ghost.wav")]
    assert "moved_away.wav" in lines[str(src / "ghost.wav")]
    cut = lines[str(src / "cut.wav")]
    assert "truncated" in cut and "declares 16000 frames" in cut and "holds 6000" in cut


def test_layers_option(corpus, tmp_path, capsys):
    full, some = tmp_path / "full", tmp_path / "some"
    run(["example", full, "--wav-dir", corpus], capsys)
    run(["example", some, "--wav-dir", corpus, "--layers", "0,-1"], capsys)
    a_full = torch.load(full / "sub" / "a.pt", weights_only=True)
    a_some = torch.load(some / "sub" / "a.pt", weights_only=True)
    assert a_some["layers"] == [0, 2] and len(a_some["hidden_states"]) == 2
    assert torch.equal(a_some["hidden_states"][0], a_full["hidden_states"][0])
    assert torch.equal(a_some["hidden_states"][1], a_full["hidden_states"][2])
    rc, _, err = run(["example", tmp_path / "bad", "--wav-dir", corpus, "--layers", "3"], capsys)
    assert rc == 2 and "index 3 is out of range" in err and "3 hidden states" in err
    rc, _, err = run(["example", tmp_path / "bad", "--wav-dir", corpus, "--layers", "x"], capsys)
    assert rc == 2 and "'x' is not a layer index" in err


def test_formats_and_fp16(corpus, tmp_path, capsys):
    ref = torch.load(_extract(corpus, tmp_path / "pt", capsys) / "sub" / "a.pt", weights_only=True)
    ref_hs = torch.stack(ref["hidden_states"])

    npy_dir = _extract(corpus, tmp_path / "npy", capsys, "--format", "npy")
    arr = np.load(npy_dir / "sub" / "a.npy")
    assert arr.dtype == np.float32 and arr.shape == tuple(ref_hs.shape)
    assert np.array_equal(arr, ref_hs.numpy())

    from safetensors import safe_open

    st_dir = _extract(corpus, tmp_path / "st", capsys, "--format", "safetensors", "--fp16", "--layers", "1,2")
    with safe_open(str(st_dir / "sub" / "a.safetensors"), framework="pt") as f:
        assert sorted(f.keys()) == ["hidden_state.1", "hidden_state.2"]
        meta = f.metadata()
        h2 = f.get_tensor("hidden_state.2")
    assert meta["layers"] == "1,2" and meta["downsample_rate"] == "160" and meta["source"] == "sub/a.flac"
    assert h2.dtype == torch.float16 and h2.shape == ref_hs[2].shape
    assert (h2.float() - ref_hs[2]).abs().max().item() <= 1e-3
    lines = (st_dir / "manifest.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["output"] == "sub/a.safetensors"

    back = ex.load_output(st_dir / "sub" / "a.safetensors")
    assert back["layers"] == [1, 2] and back["downsample_rate"] == 160 and back["source"] == "sub/a.flac"
    assert torch.equal(back["hidden_states"][1], h2)
    assert torch.equal(ex.load_output(npy_dir / "sub" / "a.npy")["hidden_states"][2], ref_hs[2])
    assert ex.load_output(tmp_path / "pt" / "sub" / "a.pt")["layers"] == [0, 1, 2]
    with pytest.raises(ValueError, match="not an extract_feat output"):
        ex.load_output(st_dir / "manifest.jsonl")


def _extract(corpus, out_dir, capsys, *extra) -> Path:
    for bad in ("short.wav", "broken.wav"):
        (corpus / bad).unlink(missing_ok=True)
    rc, _, err = run(["example", out_dir, "--wav-dir", corpus, *extra], capsys)
    assert rc == 0, err
    return out_dir


def test_plan_batches_by_padded_seconds():
    durations = [1.0, 30.0, 2.0, 2.0, 50.0, 12.0, 11.0, 10.0]
    batches = ex.plan_batches(durations, 40.0)
    assert sorted(i for b in batches for i in b) == list(range(len(durations)))
    assert batches[0] == [4]  # longer than the limit: alone
    for b in batches:
        longest = max(durations[i] for i in b)
        assert len(b) == 1 or len(b) * longest <= 40.0
        assert [durations[i] for i in b] == sorted((durations[i] for i in b), reverse=True)
    assert [5, 6, 7] in batches and [2, 3, 0] in batches
    with pytest.raises(ValueError, match="max-batch-seconds"):
        ex.plan_batches([1.0], 0)


def test_batching_does_not_change_results(tmp_path, capsys):
    one, many = tmp_path / "one", tmp_path / "many"
    wav_dir = REPO / "sample_speech"
    assert run(["example", one, "--wav-dir", wav_dir, "--max-batch-seconds", "0.1"], capsys)[0] == 0
    assert run(["example", many, "--wav-dir", wav_dir, "--max-batch-seconds", "100"], capsys)[0] == 0
    for f in sample_speech_files():
        a = torch.load(one / f.with_suffix(".pt").name, weights_only=True)["hidden_states"]
        b = torch.load(many / f.with_suffix(".pt").name, weights_only=True)["hidden_states"]
        for x, y in zip(a, b):
            assert x.shape == y.shape and (x - y).abs().max().item() <= 1e-5


def test_wav_list_with_root(corpus, tmp_path, capsys):
    lst = tmp_path / "list.txt"
    lst.write_text("# a comment\nsub/a.flac\n\nsub/deeper/b.wav\n")
    out_dir = tmp_path / "out"
    rc, out, _ = run(["example", out_dir, "--wav-list", lst, "--root", corpus], capsys)
    assert rc == 0 and "2 files: 2 written" in out
    assert sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.pt")) == [
        "sub/a.pt", "sub/deeper/b.pt",
    ]
    lst.write_text(f"{corpus / 'sub' / 'a.flac'}\n{LIBRI}\n")
    rc, _, err = run(["example", out_dir, "--wav-list", lst, "--root", corpus], capsys)
    assert rc == 2 and "is not under --wav-dir" in err


def test_duplicate_outputs_rejected(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    shutil.copy(LIBRI, tmp_path / "in" / "x.flac")
    sf.write(tmp_path / "in" / "x.wav", np.zeros(16000, dtype=np.float32), 16000)
    rc, _, err = run(["example", tmp_path / "out", "--wav-dir", tmp_path / "in"], capsys)
    assert rc == 2 and "same output" in err


def test_script_runs_as_command(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "utility" / "extract_feat.py"), "example", str(tmp_path),
         "--upstream-kwargs", '{"hidden_size": 8}'],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "4 files: 4 written" in proc.stdout
    got = torch.load(tmp_path / "example.pt", weights_only=True)
    assert got["hidden_states"][0][0].shape[1] == 8


def _run_cli(args, env_extra=None, torchrun: int = 0):
    import os

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.update(env_extra or {})
    cmd = [sys.executable]
    if torchrun:
        cmd += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(torchrun)]
        if sys.platform.startswith("linux"):
            env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # ranks talk over the loopback only
    cmd += [str(REPO / "utility" / "extract_feat.py"), *map(str, args), "--quiet"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)


def test_torchrun_two_ranks_equal_single_process(corpus, tmp_path):
    """2 CPU processes (gloo): the union of outputs equals a single-process run, bit for bit."""
    for bad in ("short.wav", "broken.wav"):
        (corpus / bad).unlink()
    for f in sample_speech_files():
        shutil.copy(f, corpus / f.name)
    opts = ["--wav-dir", corpus, "--max-batch-seconds", "5"]
    single = _run_cli(["example", tmp_path / "single", *opts])
    assert single.returncode == 0, single.stderr
    multi = _run_cli(["example", tmp_path / "multi", *opts], torchrun=2)
    assert multi.returncode == 0, multi.stderr
    assert "6 files: 6 written, 0 skipped, 0 failed" in multi.stdout and "(2 ranks)" in multi.stdout

    def outputs(d):
        return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())

    assert outputs(tmp_path / "multi") == outputs(tmp_path / "single")
    assert len(outputs(tmp_path / "single")) == 7  # 6 utterances + manifest
    for rel in outputs(tmp_path / "single"):
        a, b = tmp_path / "single" / rel, tmp_path / "multi" / rel
        if rel.endswith(".pt"):
            ta, tb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
            assert ta["layers"] == tb["layers"] and ta["source"] == tb["source"]
            assert all(torch.equal(x, y) for x, y in zip(ta["hidden_states"], tb["hidden_states"]))
        else:
            assert a.read_text() == b.read_text()

    # a rank died: some outputs and the manifest are missing; a rerun computes only those
    multi_dir = tmp_path / "multi"
    (multi_dir / "sub" / "a.pt").unlink()
    (multi_dir / "commonvoice_fr_17299458.pt").unlink()
    (multi_dir / "manifest.jsonl").unlink()
    kept = {p: p.stat().st_mtime_ns for p in multi_dir.rglob("*.pt")}
    rerun = _run_cli(["example", multi_dir, *opts], torchrun=2)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 written, 4 skipped" in rerun.stdout
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert outputs(multi_dir) == outputs(tmp_path / "single")
    assert (multi_dir / "manifest.jsonl").read_text() == (tmp_path / "single" / "manifest.jsonl").read_text()


def test_chunked_long_file_equals_whole_file(tmp_path, capsys):
    """--chunk-seconds: frame k still starts at sample k * stride; with a receptive field inside
    the overlap (the example upstream) the stitched frames equal a whole-file pass."""
    gen = torch.Generator().manual_seed(0)
    wav = (torch.randn(16000 * 20 + 1234, generator=gen) * 0.1).clamp(-1, 1)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "long.wav", wav.numpy(), 16000, subtype="FLOAT")
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    assert run(["example", whole, "--wav-dir", tmp_path / "in"], capsys)[0] == 0
    rc, out, err = run(["example", chunked, "--wav-dir", tmp_path / "in", "--chunk-seconds", "3",
                        "--chunk-overlap", "0.05", "--max-batch-seconds", "7"], capsys)
    assert rc == 0, err
    a = torch.load(whole / "long.pt", weights_only=True)["hidden_states"]
    b = torch.load(chunked / "long.pt", weights_only=True)["hidden_states"]
    assert a[0].shape[0] == example_frames(wav.numel())
    for x, y in zip(a, b):
        assert x.shape == y.shape and (x - y).abs().max().item() <= 1e-5

    model = hub.example().eval()
    hs, frames = ex.forward_chunked(model, wav, [2], "cpu", chunk_seconds=1.0, overlap_seconds=0.0)
    assert frames == example_frames(wav.numel()) and (hs[0] - a[2]).abs().max().item() <= 1e-5
    with pytest.raises(ValueError, match="shorter than the upstream's receptive field"):
        ex.forward_chunked(model, wav, [0], "cpu", chunk_seconds=0.01)


def test_bad_wav_in_a_batch_fails_alone(tmp_path, capsys):
    """A file the upstream rejects (NaN samples) is reported; its batch-mates are still written."""
    (tmp_path / "in").mkdir()
    shutil.copy(LIBRI, tmp_path / "in" / "good.flac")
    bad = np.full(16000, np.nan, dtype=np.float32)
    sf.write(tmp_path / "in" / "nan.wav", bad, 16000, subtype="FLOAT")
    rc, out, err = run(["example", tmp_path / "out", "--wav-dir", tmp_path / "in"], capsys)
    assert rc == 1 and "1 written, 0 skipped, 1 failed" in out
    assert "nan.wav" in err and "NaN" in err
    assert [p.name for p in (tmp_path / "out").glob("*.pt")] == ["good.pt"]


def test_corpus_options_rejected_in_sample_speech_mode(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        ex.main(["example", str(tmp_path), "--fp16"])
    assert exc.value.code == 2
    assert "--fp16 can only be used with --wav-dir" in capsys.readouterr().err
    assert not (tmp_path / "example.pt").exists()


def test_extract_is_a_package_one_module_per_concern():
    """s3prl.extract is a package of small modules; the command's entry points keep working."""
    import importlib

    pkg = Path(ex.__file__).parent
    assert Path(ex.__file__).name == "__init__.py"
    modules = {p.stem for p in pkg.glob("*.py")} - {"__init__", "__main__"}
    assert modules == {"cli", "jobs", "batching", "runner", "chunking", "distributed", "manifest",
                       "output"}
    for name in modules:
        assert len((pkg / f"{name}.py").read_text().splitlines()) <= 400, name
    # the console script target (setup.py: s3prl-extract=s3prl.extract:main) and the re-exports
    assert ex.main is importlib.import_module("s3prl.extract.cli").main
    assert ex.WRITERS is importlib.import_module("s3prl.extract.output").WRITERS
    assert "s3prl-extract=s3prl.extract:main" in (REPO / "setup.py").read_text()
    proc = subprocess.run([sys.executable, "-m", "s3prl.extract", "--help"], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0 and "--wav-dir" in proc.stdout
