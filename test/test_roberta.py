"""RoBERTa over vq-wav2vec k-means codes (``vq_wav2vec_kmeans_roberta`` / ``discretebert``).

Reference, re-stated from fairseq's semantics (``KmeansVectorQuantizer.forward_idx``,
``Dictionary.encode_line``, ``RobertaEncoder`` / ``TransformerSentenceEncoder`` with learned
positions ``make_positions``, post-LN layers) and s3prl 0.4.18's bucketing by
``max_positions``, on one unpadded utterance at a time, in float64.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import load_checkpoint
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import roberta as R
from test.utils import assert_matches_golden, assert_padding_invariant, mixed_length_wavs


def reference(model, ckpt: dict, vq_ckpt: dict, wav: torch.Tensor) -> list[torch.Tensor]:
    # 1. codes: z of the vq-wav2vec model (checked against fairseq semantics in test_wav2vec1),
    #    grouped 1x1 conv, GroupNorm(groups) over the utterance, nearest codeword per group
    with torch.no_grad():
        z = model.vq_wav2vec([wav])["hidden_states"][0][0].double().T  # (C, T)
    vq = {k[len("vector_quantizer."):]: v.double() for k, v in vq_ckpt["model"].items()
          if k.startswith("vector_quantizer.")}
    groups = vq_ckpt["args"].vq_groups
    ze = F.conv1d(z[None], vq["projection.0.weight"], groups=groups)
    ze = F.group_norm(ze, groups, vq["projection.1.weight"], vq["projection.1.bias"], 1e-5)[0]  # (C, T)
    d_var = ze.size(0) // groups
    codes = []
    for t in range(ze.size(1)):
        frame = ze[:, t].view(groups, d_var)
        emb = vq["embedding"].expand(-1, groups, -1)  # (V, G, d)
        codes.append((emb - frame[None]).norm(dim=-1).argmin(0).tolist())
    # 2. the line "<s> i-j ... </s>" through the dictionary
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + [ln.split(" ")[0] for ln in ckpt["text_dictionary"].splitlines()]
    index = {s: i for i, s in enumerate(symbols + ["<mask>"])}
    line = "<s> " + " ".join("-".join(map(str, c)) for c in codes) + " </s>"
    tokens = torch.tensor([index.get(w, 3) for w in line.split()])
    # 3. RoBERTa per chunk of max_positions tokens
    w = {k[len("decoder.sentence_encoder."):]: v.double() for k, v in ckpt["model_weight"].items()
         if k.startswith("decoder.sentence_encoder.")}
    layers_out = None
    for s in range(0, len(tokens), R.MAX_POSITIONS):
        tok = tokens[s: s + R.MAX_POSITIONS]
        positions = torch.arange(len(tok)) + 2  # no pads in one utterance: padding_idx + 1 + i
        x = w["embed_tokens.weight"][tok] + w["embed_positions.weight"][positions]
        x = F.layer_norm(x, (R.DIM,), w["emb_layer_norm.weight"], w["emb_layer_norm.bias"])
        states = [x]
        for i in range(R.LAYERS):
            p = f"layers.{i}."

            def lin(t, name, p=p):
                return F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])

            q, k, v = (lin(x, f"self_attn.{n}_proj").view(-1, R.HEADS, R.DIM // R.HEADS).transpose(0, 1)
                       for n in ("q", "k", "v"))
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(R.DIM // R.HEADS), -1) @ v
            x = F.layer_norm(x + lin(a.transpose(0, 1).reshape(-1, R.DIM), "self_attn.out_proj"), (R.DIM,),
                             w[p + "self_attn_layer_norm.weight"], w[p + "self_attn_layer_norm.bias"])
            x = F.layer_norm(x + lin(F.gelu(lin(x, "fc1")), "fc2"), (R.DIM,), w[p + "final_layer_norm.weight"],
                             w[p + "final_layer_norm.bias"])
            states.append(x)
        layers_out = states if layers_out is None else [torch.cat([a, b]) for a, b in zip(layers_out, states)]
    return [h[1:-1].float() for h in layers_out]  # drop <s> and </s>


def test_matches_fairseq_restatement_with_chunks(tmp_path):
    entry, path = R.build_roberta(tmp_path)
    model = hub.load(entry, ckpt=str(path))
    ckpt = load_checkpoint(path)
    vq_ckpt = load_checkpoint(path.parent / "vq-wav2vec_kmeans.pt")
    wavs = mixed_length_wavs(seed=41, seconds=(1.2, 0.3))  # 1.2 s: 117 codes + 2 -> two chunks of 64
    with torch.no_grad():
        out = model(wavs)
    assert model.num_layers == R.LAYERS + 1 and model.downsample_rate == 160
    worst = 0.0
    for b, wav in enumerate(wavs):
        ref = reference(model, ckpt, vq_ckpt, wav)
        n = int(out["hidden_states_len"][b])
        assert n == ref[0].size(0)
        worst = max(worst, *((h[b, :n] - r).abs().max().item() for h, r in zip(out["hidden_states"], ref)))
    print(f"parity max abs diff (roberta): {worst:.2e}")  # pytest -s
    assert worst <= 1e-4, worst


def test_golden_padding_and_fairseq_new_names(tmp_path):
    entry, path = R.build_roberta(tmp_path / "old")
    model = hub.load(entry, ckpt=str(path))
    assert_matches_golden("vq_wav2vec_kmeans_roberta_tiny", hidden_states_of_files(model, sample_speech_files()))
    assert assert_padding_invariant(model, mixed_length_wavs(seed=42, seconds=(0.5, 1.6, 0.9))) <= 1e-4
    _, new = R.build(tmp_path / "new", old_names=False)  # encoder.* / layernorm_embedding names
    wav = mixed_length_wavs(seed=43, seconds=(0.7,))
    with torch.no_grad():
        a = model(wav)["hidden_states"]
        b = hub.vq_wav2vec_kmeans_roberta_local(str(new))(wav)["hidden_states"]
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_entries_and_errors(tmp_path):
    for name in ("vq_wav2vec_kmeans_roberta", "discretebert"):
        fn = getattr(hub, name)
        assert fn.info.ckpt.endswith("/vq_wav2vec_kmeans_roberta.pt") and fn.info.layers == 13
    _, path = R.build_roberta(tmp_path)
    m = hub.discretebert(ckpt=str(path), vq_wav2vec_ckpt=str(path.parent / "vq-wav2vec_kmeans.pt"))
    assert m.hidden_sizes == [R.DIM] * (R.LAYERS + 1)
    ck = load_checkpoint(path)
    del ck["text_dictionary"]
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="has no 'text_dictionary'"):
        hub.vq_wav2vec_kmeans_roberta_local(str(tmp_path / "bad.pt"), str(path.parent / "vq-wav2vec_kmeans.pt"))
    ck = load_checkpoint(path)
    del ck["model_weight"]["decoder.sentence_encoder.layers.1.fc2.bias"]
    torch.save(ck, tmp_path / "bad2.pt")
    with pytest.raises(ValueError, match=r"missing keys \['layers\.1\.fc2\.bias'\]"):
        hub.vq_wav2vec_kmeans_roberta_local(str(tmp_path / "bad2.pt"), str(path.parent / "vq-wav2vec_kmeans.pt"))
