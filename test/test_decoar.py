"""DeCoAR 1.0 (``decoar*``: last layer; ``decoar_layers*``: every layer).

Reference: kaldi-native-fbank (80 bins, hamming, no dither) + CMVN with unbiased std, then
PyTorch's multi-layer ``nn.LSTM`` loaded with the checkpoint's own multi-layer weights, run on
each unpadded utterance, the backward stack on the time-reversed utterance (s3prl 0.4.18's
``Decoar.forward`` semantics).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import s3prl.hub as hub
from s3prl.modules.lstm import reverse_padded
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import CheckpointKeyError
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import decoar as D
from test.utils import assert_matches_golden, assert_padding_invariant, mixed_length_wavs


def reference(sd: dict, wav: torch.Tensor, layers: int) -> list[torch.Tensor]:
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hamming"
    opts.frame_opts.samp_freq = 16000
    opts.mel_opts.num_bins = 80
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(16000, wav.double().tolist())
    fb.input_finished()
    y = torch.tensor(np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)]), dtype=torch.float64)
    y = ((y - y.mean(0, keepdim=True)) / (1e-10 + y.std(0, keepdim=True))).float()
    x = torch.nn.functional.linear(y, sd["post_extract_proj.weight"], sd["post_extract_proj.bias"])[None]
    outs = {}
    for direction, inp in (("forward_lstm", x), ("backward_lstm", x.flip(1))):
        outs[direction] = []
        for n in range(1, layers + 1):  # the first n layers of the multi-layer LSTM
            lstm = torch.nn.LSTM(D.HIDDEN, D.HIDDEN, num_layers=n, batch_first=True)
            lstm.load_state_dict({k.split(".", 1)[1]: v for k, v in sd.items()
                                  if k.startswith(direction) and int(k[-1]) < n})
            with torch.no_grad():
                out = lstm(inp)[0][0]
            outs[direction].append(out if direction == "forward_lstm" else out.flip(0))
    return [torch.cat([f, b], dim=-1) for f, b in zip(outs["forward_lstm"], outs["backward_lstm"])]


def test_matches_reference_last_and_every_layer(tmp_path):
    _, path = D.build_decoar(tmp_path)
    sd = torch.load(path, weights_only=True)["model"]
    last, every = hub.decoar_local(str(path)), hub.decoar_layers_local(str(path))
    assert (last.num_layers, every.num_layers, last.hidden_sizes) == (1, D.LAYERS, [2 * D.HIDDEN])
    assert (last.downsample_rate, last.receptive_field) == (160, 400)
    wavs = mixed_length_wavs(seed=31, seconds=(0.9, 0.3))
    with torch.no_grad():
        a, b = last(wavs), every(wavs)
    worst = 0.0
    for i, wav in enumerate(wavs):
        ref = reference(sd, wav, D.LAYERS)
        n = int(a["hidden_states_len"][i])
        assert n == ref[0].size(0) == 1 + (len(wav) - 400) // 160
        worst = max(worst, (a["hidden_states"][0][i, :n] - ref[-1]).abs().max().item())
        worst = max(worst, *((h[i, :n] - r).abs().max().item() for h, r in zip(b["hidden_states"], ref)))
    print(f"parity max abs diff (decoar): {worst:.2e}")  # pytest -s
    assert worst <= 1e-4, worst


@pytest.mark.parametrize("golden, build", [("decoar_tiny", D.build_decoar), ("decoar_layers_tiny", D.build_decoar_layers)])
def test_golden_and_padding(golden, build, tmp_path):
    entry, path = build(tmp_path)
    model = hub.load(entry, ckpt=str(path))
    assert_matches_golden(golden, hidden_states_of_files(model, sample_speech_files()))
    assert assert_padding_invariant(model, mixed_length_wavs(seed=32, seconds=(0.5, 3.0))) <= 1e-4


def test_entries_url_and_errors(tmp_path):
    from test.http_server import serve_directory

    for name, layers in (("decoar", 1), ("decoar_layers", 4)):
        fn = getattr(hub, name)
        assert fn.info.ckpt.endswith("/checkpoint_decoar.pt") and (fn.info.layers, fn.info.hidden_size) == (layers, 2048)
    _, path = D.build_decoar(tmp_path / "files")
    wav = mixed_length_wavs(seed=33, seconds=(0.6,))
    with serve_directory(tmp_path / "files") as server:
        models = [hub.decoar_url(server.url + path.name), hub.decoar_custom(server.url + path.name),
                  hub.decoar_layers_url(server.url + path.name), hub.decoar(ckpt=str(path)),
                  hub.decoar_layers(ckpt=str(path)), hub.decoar_layers_custom(str(path))]
    with torch.no_grad():
        outs = [m(wav)["hidden_states"] for m in models]
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][0], outs[2][-1])
    assert torch.equal(outs[3][0], outs[4][-1]) and len(outs[5]) == D.LAYERS
    sd = torch.load(path, weights_only=True)
    del sd["model"]["backward_lstm.bias_hh_l1"]
    torch.save(sd, tmp_path / "bad.pt")
    with pytest.raises(CheckpointKeyError) as err:
        hub.decoar_local(str(tmp_path / "bad.pt"))
    assert str(err.value) == (f"checkpoint {tmp_path / 'bad.pt'} does not match DeCoAR ({D.LAYERS} layers of "
                              f"{D.HIDDEN}): missing keys ['backward_lstm.bias_hh_l1']; unexpected keys []")
    sd = torch.load(path, weights_only=True)
    sd["model"]["forward_lstm.weight_hh_l1"] = torch.zeros(4 * D.HIDDEN, 3)
    sd["model"]["decoder.proj.weight"] = torch.zeros(2, 2)  # a training-only head: ignored
    torch.save(sd, tmp_path / "bad.pt")
    with pytest.raises(CheckpointKeyError, match=r"\['forward_lstm\.weight_hh_l1: checkpoint \(64, 3\) vs model "
                       r"\(64, 16\)'\]$"):
        hub.decoar_local(str(tmp_path / "bad.pt"))
    torch.save(sd["model"], tmp_path / "flat.pt")
    with pytest.raises(ValueError, match=r"is not \{'model': state_dict\}"):
        hub.decoar_local(str(tmp_path / "flat.pt"))


def test_reverse_padded():
    x = torch.arange(12.0).view(2, 6)
    out = reverse_padded(x, torch.tensor([6, 4]))
    assert out.tolist() == [[5, 4, 3, 2, 1, 0], [9, 8, 7, 6, 10, 11]]
