"""MOS predictors (s3prl 0.4.18 ``mos_wav2vec2`` / ``mos_tera`` / ``mos_apc``) on seeded checkpoints in
the downstream-runner layout, vs a re-statement of s3prl's ``UpstreamExpert.forward``
(``utility.unfold_segments``, ``Featurizer`` with zero layer weights and ``tolist``,
``model.MosDownstream`` / ``SelfAttentionPooling``) on the upstream loaded from a checkpoint of its
own family that holds the ``Upstream`` weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from test.checkpoint_builders import mos_prediction as mos
from test.utils import assert_padding_invariant

SEED = 61  # the builder's seed of the "Upstream" weights


def family_checkpoint(upstream: str, dst) -> tuple[str, str]:
    """The ``Upstream`` weights (seed 61) written in the family's own released layout."""
    if upstream == "wav2vec2":
        from test.checkpoint_builders.wav2vec2 import (
            base_options,
            make_state,
            task_options,
            write_args_layout,
        )

        opts = base_options()
        return "wav2vec2_local", str(write_args_layout(dst / "w2v.pt", opts, task_options(False),
                                                       make_state(opts, SEED)))
    if upstream == "apc":
        from test.checkpoint_builders.apc import write_apc_checkpoint

        return "apc_local", str(write_apc_checkpoint(dst / "apc.ckpt", seed=SEED))
    from test.checkpoint_builders.mockingjay import MEL_AUDIO, build_checkpoint

    return "tera_local", str(build_checkpoint(dst / "tera" / "s.ckpt", MEL_AUDIO, layout="config", seed=SEED))


def unfold_segments(wav: torch.Tensor, seg: int = 16000) -> torch.Tensor:
    step = seg // 2
    n = wav.numel()
    tgt = seg if n <= seg else (n // step + 1) * step
    return torch.cat([wav, wav.new_zeros(tgt - n)]).unfold(0, seg, step)


def reference_scores(upstream_model, sd: dict, wavs, attention: bool, clipping: bool) -> list[torch.Tensor]:
    """Per wav: the (segments,) scores of s3prl's forward."""
    out = []
    for wav in wavs:
        segs = list(unfold_segments(wav).unbind(0))
        hs = upstream_model(segs)["hidden_states"]
        weights = torch.softmax(torch.zeros(len(hs)), dim=-1)
        feat = (weights[:, None, None, None] * torch.stack(hs)).sum(0)
        feat = feat[:, : round(16000 / upstream_model.downsample_rate)]
        x = F.linear(feat, sd["connector.weight"], sd["connector.bias"])
        if attention:
            w = torch.softmax(F.linear(x, sd["model.mean_net_pooling.W.weight"],
                                       sd["model.mean_net_pooling.W.bias"]).squeeze(-1), dim=1)
            s = F.linear((x * w.unsqueeze(-1)).sum(1), sd["model.mean_net_linear.weight"],
                         sd["model.mean_net_linear.bias"]).squeeze(-1)
        else:
            s = F.linear(x, sd["model.mean_net_linear.weight"], sd["model.mean_net_linear.bias"])
            s = s.squeeze(-1).mean(-1)
        out.append(torch.tanh(s) * 2 + 3 if clipping else s)
    return out


@pytest.mark.parametrize("upstream, attention, clipping",
                         [("wav2vec2", True, True), ("tera", True, True), ("apc", False, False)])
def test_matches_s3prl_restatement(upstream, attention, clipping, tmp_path):
    entry, path = mos.build(upstream, tmp_path, attention_pooling=attention, clipping=clipping)
    model = hub.load(entry, ckpt=str(path)).eval()
    assert model.hidden_sizes == [1] and model.downsample_rate == 8000
    ref_name, ref_ckpt = family_checkpoint(upstream, tmp_path)
    ref_up = hub.load(ref_name, ckpt=ref_ckpt).eval()
    gen = torch.Generator().manual_seed(19)
    wavs = [torch.randn(n, generator=gen) * 0.1 for n in (40000, 9000, 24000)]
    sd = mos.downstream_state(mos.upstream_dim(upstream), attention)
    with torch.no_grad():
        out = model(wavs)
        ref = reference_scores(ref_up, sd, wavs, attention, clipping)
    assert out["hidden_states_len"].tolist() == [5, 1, 3] == [r.numel() for r in ref]
    for i, r in enumerate(ref):
        assert (out["hidden_states"][0][i, : r.numel(), 0] - r).abs().max() <= 1e-4
    ref_scores = torch.stack([r.mean() for r in ref])
    assert (out["scores"] - ref_scores).abs().max() <= 1e-4
    assert float(ref_scores.std()) > 1e-3  # the wavs get different scores
    if clipping:
        assert ((out["scores"] > 1) & (out["scores"] < 5)).all()


def test_upstream_weights_come_from_the_mos_checkpoint(tmp_path):
    """The architecture checkpoint's own weights (seed 5) are replaced by ``Upstream`` (seed 61)."""
    _, path = mos.build("apc", tmp_path)
    model = hub.mos_apc_local(str(path))
    arch = hub.apc_local(str(tmp_path / "arch" / "apc_360hr.ckpt"))
    _, ref_ckpt = family_checkpoint("apc", tmp_path)
    ref = hub.apc_local(ref_ckpt)
    w = "model.rnn_layers.1.weight_hh_l0"
    assert torch.equal(model.upstream.state_dict()[w], ref.state_dict()[w])
    assert not torch.equal(model.upstream.state_dict()[w], arch.state_dict()[w])


def test_padding_invariant_and_segments(tmp_path):
    entry, path = mos.build("wav2vec2", tmp_path)
    model = hub.load(entry, ckpt=str(path)).eval()
    gen = torch.Generator().manual_seed(20)
    wavs = [torch.randn(n, generator=gen) * 0.1 for n in (300, 16000, 16001, 33000)]
    assert assert_padding_invariant(model, wavs) <= 1e-4
    with torch.no_grad():
        n = model(wavs)["hidden_states_len"].tolist()
    assert n == [1, 1, 2, 4]  # one segment up to 1 s, then samples // 8000
    with pytest.raises(ValueError, match="at least 1 samples"):
        model([torch.zeros(0)])


def test_explicit_upstream_ckpt_and_errors(tmp_path):
    arch = mos.write_architecture("apc", tmp_path / "arch")
    path = mos.write_checkpoint(tmp_path / "a.ckpt", "apc", upstream_ckpt=None)
    model = hub.mos_apc_local(str(path), upstream_ckpt=str(arch))
    assert model.upstream.hidden_sizes == [32] * 3
    bad = mos.write_checkpoint(tmp_path / "b.ckpt", "apc", str(arch),
                               upstream_entry={f"rnn.{k}": v for k, v in mos.upstream_weights("apc", 1)[0].items()})
    with pytest.raises(ValueError, match="start with 'model.'"):
        hub.mos_apc_local(str(bad))
    sd = mos.downstream_state(32)
    del sd["model.judge_embbeding.weight"], sd["connector.bias"]
    bad = mos.write_checkpoint(tmp_path / "c.ckpt", "apc", str(arch), downstream=sd)
    with pytest.raises(ValueError, match="missing keys.*connector.bias.*judge_embbeding"):
        hub.mos_apc_local(str(bad))
    sd = mos.downstream_state(32)
    sd["connector.weight"] = torch.zeros(16, 31)
    bad = mos.write_checkpoint(tmp_path / "d.ckpt", "apc", str(arch), downstream=sd)
    with pytest.raises(ValueError, match="connector.weight"):
        hub.mos_apc_local(str(bad))
    torch.save({"Upstream": {}, "Config": {}}, tmp_path / "e.ckpt")
    with pytest.raises(ValueError, match=r"lacks \['Downstream'\]"):
        hub.mos_apc_local(str(tmp_path / "e.ckpt"))
    with pytest.raises(ValueError, match="mos_apc_url"):
        hub.mos_apc_local("https://example.com/apc-dev-SRCC-best.ckpt")
