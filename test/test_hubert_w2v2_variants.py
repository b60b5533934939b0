"""HuBERT- and wav2vec 2.0-architecture checkpoints of other papers (s3prl 0.4.18 names):
ContentVec, mHuBERT, HuBERT-MGR, MS-HuBERT, VoxPopuli and S2ST wav2vec 2.0.

Each named entry loads a seeded checkpoint in its released layout (the original s3prl
toolkit's converted layout for the files s3prl hosts, fairseq's for the others) and
matches transformers' ``HubertModel`` / ``Wav2Vec2Model`` with the same weights.
"""

from __future__ import annotations

import pytest
import torch

import s3prl.hub as hub
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import load_checkpoint
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import hubert as H
from test.checkpoint_builders import hubert_converted as HC
from test.checkpoint_builders import wav2vec2 as W
from test.checkpoint_builders.wav2vec2 import (
    fairseq_dictionary,
    saving_fairseq_classes,
    write_cfg_layout,
)
from test.test_w2v2_family import reference_hidden_states, reference_model
from test.utils import assert_matches_golden

CASES = {
    # entry: (builder, reference family in test_w2v2_family, weights key, official URL prefix)
    "contentvec": (HC.build_contentvec, "hubert_base", "model_weight", "https://huggingface.co/s3prl/"),
    "contentvec_km100": (HC.build_contentvec, "hubert_base", "model_weight", "https://huggingface.co/s3prl/"),
    "contentvec_km500": (lambda d: HC.build_converted(d, "contentvec_km500.pt", 52, 500), "hubert_base",
                         "model_weight", "https://huggingface.co/s3prl/"),
    "mhubert_base_vp_en_es_fr_it3": (lambda d: HC.build_converted(d, "mhubert_base_vp_en_es_fr_it3.pt", 53, 1000),
                                     "hubert_base", "model_weight", "https://huggingface.co/s3prl/"),
    "ms_hubert": (lambda d: HC.build_converted(d, "iter3.pt", 54, 500), "hubert_base", "model_weight",
                  "https://huggingface.co/s3prl/MS-HuBERT/"),
    "hubert_base_robust_mgr": (H.build_base, "hubert_base", "model", "https://huggingface.co/kphuang68/"),
    "wav2vec2_large_voxpopuli_100k": (W.build_large, "wav2vec2_large", "model",
                                      "https://dl.fbaipublicfiles.com/voxpopuli/"),
    "wav2vec2_base_s2st_es_voxpopuli": (W.build_base, "wav2vec2_base", "model",
                                        "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/"),
    "wav2vec2_base_s2st_en_librilight": (W.build_base, "wav2vec2_base", "model",
                                         "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_named_entry_loads_its_layout_and_matches_transformers(name, tmp_path):
    builder, family, weights_key, url = CASES[name]
    fn = getattr(hub, name)
    assert fn.info.ckpt.startswith(url) and fn.info.stride == 320
    _, path = builder(tmp_path)
    ours = hub.load(name, ckpt=str(path))
    assert ours.num_layers == W.LAYERS + 1
    ref = reference_model(family, load_checkpoint(path)[weights_key])
    batch = torch.randn(2, 12000, generator=torch.Generator().manual_seed(3)) * 0.1
    expected = reference_hidden_states(ref, batch, ours.config.normalize)
    with torch.no_grad():
        got = ours(list(batch))["hidden_states"]
    worst = max((a - b).abs().max().item() for a, b in zip(got, expected))
    assert len(got) == len(expected) and worst <= 1e-4, worst


def test_converted_layout_golden_and_same_model_as_fairseq_layout(tmp_path):
    _, converted = HC.build_contentvec(tmp_path)
    model = hub.hubert_local(str(converted))
    assert_matches_golden("hubert_s3prl_converted_reduced", hidden_states_of_files(model, sample_speech_files()))
    # the same weights written in fairseq's layout give the same numbers
    ck = load_checkpoint(converted)
    with saving_fairseq_classes():
        fairseq = write_cfg_layout(tmp_path / "fairseq.pt", ck["model_cfg"], ck["task_cfg"], ck["model_weight"],
                                   {"dictionaries": [fairseq_dictionary(ck["dictionaries_symbols"][0][4:])]})
    wav = [torch.randn(9000, generator=torch.Generator().manual_seed(4)) * 0.1]
    with torch.no_grad():
        a = model(wav)["hidden_states"]
        b = hub.hubert_local(str(fairseq))(wav)["hidden_states"]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
