"""Hidden-state extraction for audio files and whole corpora (``utility/extract_feat.py``).

Two modes, one command (``python utility/extract_feat.py`` or the ``s3prl-extract``
console script)::

    # the regression reference: OUTPUT_DIR/NAME.pt for the bundled sample speech
    python utility/extract_feat.py fbank result/

    # a corpus: one output file per utterance, mirroring the folder layout
    python utility/extract_feat.py hubert_base feats/ --wav-dir LibriSpeech/dev-clean --layers 0,6,-1

Sample-speech mode writes the golden format of
:func:`s3prl.util.extract.hidden_states_of_files` (``test/sample_hidden_states/``).

Corpus mode writes, for ``DIR/sub/utt.flac``, ``OUTPUT_DIR/sub/utt.pt`` holding::

    {"hidden_states": [(frames, dim) tensor per kept layer],   # float32 (float16 with --fp16), cpu
     "layers": [int, ...],          # indices of the kept hidden states (non-negative)
     "downsample_rate": int,        # input samples (16 kHz) per frame: frame k starts at k * rate
     "sample_rate": 16000,
     "source": "sub/utt.flac"}      # the input, relative to the input root

``--format npy`` writes ``utt.npy``: one ``(kept layers, frames, dim)`` float array (all
kept layers must have the same dim); ``--format safetensors`` writes ``utt.safetensors``
with tensors ``hidden_state.<layer>`` and the other fields as string metadata. Every run
also writes ``OUTPUT_DIR/manifest.jsonl``: one JSON line per utterance with
``utterance`` (relative path without suffix), ``source``, ``seconds``, ``frames`` and
``output`` (relative to OUTPUT_DIR).

Audio is decoded with ``soundfile``, mixed down to mono and resampled to 16 kHz with
``soxr`` (:func:`s3prl.util.audio.load_audio`). Files are sorted by duration and grouped
into batches of at most ``--max-batch-seconds`` of *padded* audio (batch size times the
longest file), so one long file never shares a batch that would not fit; a file longer
than the limit runs alone. Decoding of the next batch overlaps with the forward pass of
the current one (``--num-workers`` threads). ``--chunk-seconds`` runs long recordings in
overlapping chunks (:func:`forward_chunked`).

Under ``torchrun --nproc_per_node N`` every rank plans the same batches and runs every N-th
one; rank 0 merges the manifest and prints the summary (see :func:`main`).

Resumable: outputs that already exist are skipped (``--overwrite`` recomputes them); each
output is written to a temporary name in its own folder and renamed with
:func:`os.replace`, so a killed run never leaves a partial file at a final path. A file
that cannot be read, is shorter than the upstream's receptive field, is a dangling
symbolic link or a WAV whose body is shorter than its header declares, or that the upstream
refuses (NaN/Inf, samples beyond ``2**31``) is reported on stderr and skipped, and the exit
status is 1. A summary (files, audio seconds, wall seconds, real-time factor) is printed to
stdout at the end.

Modules (one concern each):

* :mod:`s3prl.extract.cli`: the command line (:func:`main`, :func:`build_parser`).
* :mod:`s3prl.extract.jobs`: the inputs (:class:`Job`, ``--wav-dir`` / ``--wav-list``,
  ``--layers``, durations from file headers).
* :mod:`s3prl.extract.batching`: :func:`plan_batches` (padded audio seconds per batch).
* :mod:`s3prl.extract.runner`: the loop (:func:`extract_files`, :func:`extract_sample_speech`,
  :class:`Report`).
* :mod:`s3prl.extract.chunking`: :func:`forward_chunked` (``--chunk-seconds``).
* :mod:`s3prl.extract.distributed`: ``torchrun`` sharding and the rank-0 merge.
* :mod:`s3prl.extract.manifest`: ``manifest.jsonl``.
* :mod:`s3prl.extract.output`: the formats (:data:`WRITERS`, :func:`load_output`) and
  :func:`write_atomic`.

The golden format of the sample-speech mode is defined by
:func:`s3prl.util.extract.hidden_states_of_files` (also used by the tests' golden checks).
"""

from .batching import plan_batches
from .chunking import forward_chunked
from .cli import build_parser, main
from .jobs import (
    AUDIO_SUFFIXES,
    SAMPLE_RATE,
    Job,
    find_audio_files,
    jobs_from_dir,
    jobs_from_list,
    normalize_layers,
    parse_layers,
)
from .manifest import MANIFEST_NAME, write_manifest
from .output import FORMATS, WRITERS, load_output, write_atomic
from .runner import Report, extract_files, extract_sample_speech

__all__ = [
    "AUDIO_SUFFIXES",
    "FORMATS",
    "MANIFEST_NAME",
    "SAMPLE_RATE",
    "WRITERS",
    "Job",
    "Report",
    "main",
    "build_parser",
    "parse_layers",
    "normalize_layers",
    "find_audio_files",
    "jobs_from_dir",
    "jobs_from_list",
    "plan_batches",
    "extract_files",
    "extract_sample_speech",
    "forward_chunked",
    "load_output",
    "write_atomic",
    "write_manifest",
]
