"""RoBERTa over vq-wav2vec k-means codes (DiscreteBERT; Baevski et al., 2019,
https://arxiv.org/abs/1911.03912, "Effectiveness of self-supervised pre-training for speech
recognition"; fairseq's ``bert_kmeans``).

Pipeline (s3prl 0.4.18 ``upstream/roberta``; facts only):

1. vq-wav2vec k-means (our :mod:`s3prl.upstream.wav2vec` model) gives, per 10 ms frame, the
   codeword index of each of its 2 groups (the nearest codeword of the grouped projection
   of ``z``);
2. each utterance becomes the line ``"<s> i0-j0 i1-j1 ... </s>"``, encoded with the fairseq
   dictionary stored in the checkpoint (``dict.txt`` text; specials ``<s>`` 0, ``<pad>`` 1,
   ``</s>`` 2, ``<unk>`` 3, then the file's symbols, then ``<mask>``), unknown pairs -> ``<unk>``;
3. the RoBERTa encoder (:class:`s3prl.modules.bert.RobertaEncoder`) runs on consecutive
   chunks of ``max_positions`` tokens (each chunk on its own, as the original), and the
   chunks' hidden states are concatenated: ``L + 1`` hidden states.

Frames: s3prl 0.4.18 returns the outputs at ``<s>`` and ``</s>`` too (two frames more than
the codes); here they are dropped, so frame ``t`` is vq-wav2vec frame ``t`` (stride 160
samples, receptive field 465).

Checkpoint (s3prl's converted ``vq_wav2vec_kmeans_roberta.pt``, ``upstream/roberta/convert.py``):
``{"task_cfg": ..., "model_cfg": argparse.Namespace (fairseq RoBERTa args), "model_weight":
fairseq state dict, "text_dictionary": dict.txt text}``. Weights under
``encoder.sentence_encoder.`` (or the older ``decoder.sentence_encoder.``, with
``emb_layer_norm`` for ``layernorm_embedding``, renamed as fairseq's upgrade does); the LM head
(``*.lm_head.*``) is training-only.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import Tensor

from s3prl.modules.bert import RobertaEncoder
from s3prl.upstream.interface import UpstreamBase, padding_mask
from s3prl.upstream.wav2vec.expert import UpstreamExpert as Wav2VecExpert
from s3prl.upstream.wav2vec.expert import masked_group_norm
from s3prl.util.checkpoint import (
    CheckpointKeyError,
    load_checkpoint,
    load_state_dict_strict,
    note_unused_entries,
    to_plain,
)

__all__ = ["PREFIX", "TRAINING_ONLY_PREFIXES", "parse_fairseq_dictionary", "read_roberta_checkpoint", "kmeans_code_ids",
           "UpstreamExpert"]

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


def parse_fairseq_dictionary(text: str) -> dict[str, int]:
    """A fairseq ``dict.txt`` (``"<symbol> <count> [#fairseq:overwrite]"`` per line) -> symbol
    indices: the 4 specials, the file's symbols in order, then ``<mask>`` (RoBERTa adds it)."""
    index = {s: i for i, s in enumerate(SPECIALS)}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.rstrip()
        if not line:
            continue
        parts = line.split(" ")
        if parts[-1] == "#fairseq:overwrite":
            parts = parts[:-1]
        if len(parts) < 2:
            raise ValueError(f"fairseq dictionary line {n} is not '<symbol> <count>': {line!r}")
        symbol = " ".join(parts[:-1])
        if symbol not in index:
            index[symbol] = len(index)
    index.setdefault("<mask>", len(index))
    return index


def _rename(key: str) -> str:
    key = re.sub(r"^decoder\.", "encoder.", key)
    return key.replace(".emb_layer_norm.", ".layernorm_embedding.")


#: where the encoder's weights live (after :func:`_rename`)
PREFIX = "encoder.sentence_encoder."
#: training-only weights of a fairseq RoBERTa: the masked-LM head, fine-tuning heads
TRAINING_ONLY_PREFIXES = ("encoder.lm_head.", "classification_heads.")


def read_roberta_checkpoint(path) -> tuple[dict, dict, dict]:
    """``(model options, symbol indices, weights)``; the weights keep their full fairseq names,
    renamed as fairseq's upgrade does (``decoder.`` -> ``encoder.``, ``emb_layer_norm`` ->
    ``layernorm_embedding``, a stacked ``in_proj`` split into ``q/k/v_proj``): the encoder's
    are under :data:`PREFIX`. Top-level entries other than ``model_cfg``, ``model_weight`` and
    ``text_dictionary`` are logged once (:func:`s3prl.util.checkpoint.note_unused_entries`).

    Raises:
        ValueError: a missing top-level key (named), or ``encoder_normalize_before`` (pre-LN
            RoBERTa, not released over vq-wav2vec codes).
        CheckpointKeyError: (a ``ValueError``) ``model_weight`` is not a state dict.
    """
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, Mapping):
        raise ValueError(f"RoBERTa checkpoint {path} holds a {type(ckpt).__name__}, not a dict")
    read = ("model_cfg", "model_weight", "text_dictionary")
    for key in read:
        if key not in ckpt:
            raise ValueError(f"RoBERTa checkpoint {path} has no {key!r} (keys: {sorted(map(str, ckpt))})")
    if not isinstance(ckpt["model_weight"], Mapping):
        raise CheckpointKeyError(f"checkpoint {path}: model_weight is a {type(ckpt['model_weight']).__name__}, "
                                 "not a state dict (name -> tensor)")
    note_unused_entries(path, [k for k in ckpt if k not in read])
    cfg = to_plain(ckpt["model_cfg"])
    if cfg.get("encoder_normalize_before"):
        raise ValueError(f"RoBERTa checkpoint {path}: encoder_normalize_before=True is not supported")
    weights = {_rename(str(key)): value for key, value in ckpt["model_weight"].items()}
    # very old fairseq attention: one in_proj (q, k, v stacked), as fairseq's upgrade splits it
    for key in [k for k in weights if k.endswith(("self_attn.in_proj_weight", "self_attn.in_proj_bias"))]:
        if not isinstance(weights[key], Tensor) or weights[key].dim() == 0 or weights[key].size(0) % 3:
            continue  # left as it is: the strict load names it
        kind = key.rsplit("_", 1)[1]
        for name, part in zip(("q_proj", "k_proj", "v_proj"), weights.pop(key).chunk(3)):
            weights[key.replace(f"in_proj_{kind}", f"{name}.{kind}")] = part
    return cfg, parse_fairseq_dictionary(ckpt["text_dictionary"]), weights


def _strip_prefix(key: str) -> str:
    return key[len(PREFIX):] if key.startswith(PREFIX) else key


def kmeans_code_ids(vq: Wav2VecExpert, wavs: Tensor, wavs_len: Tensor) -> tuple[Tensor, Tensor]:
    """vq-wav2vec k-means codeword indices ``(batch, frames, groups)`` and ``(batch,)`` frames:
    the nearest codeword (L2) of each group of the grouped 1x1 projection + group norm of ``z``
    (fairseq ``KmeansVectorQuantizer``)."""
    quantizer = getattr(vq.model, "vector_quantizer", None)
    if quantizer is None or not hasattr(quantizer, "embedding") or not hasattr(quantizer, "projection"):
        raise ValueError("the vq-wav2vec checkpoint is not a k-means one (vq_type 'kmeans')")
    hidden, frames_len = vq.model(wavs, wavs_len)
    z = hidden[0].transpose(1, 2)  # (B, C, T), zero past each wav's frames
    mask = padding_mask(frames_len, z.size(-1))
    ze = quantizer.projection[0](z)
    norm = quantizer.projection[1]
    ze = masked_group_norm(ze, mask, quantizer.groups, norm.weight, norm.bias)
    b, _, t = ze.shape
    ze = ze.reshape(b, quantizer.groups, quantizer.var_dim, t).permute(1, 0, 3, 2).reshape(quantizer.groups, b * t, -1)
    codes = quantizer.embedding.expand(quantizer.num_vars, quantizer.groups, quantizer.var_dim).transpose(0, 1)
    ids = torch.cdist(ze, codes.contiguous()).argmin(-1).reshape(quantizer.groups, b, t).permute(1, 2, 0)
    return ids, frames_len


class UpstreamExpert(UpstreamBase):
    """RoBERTa over vq-wav2vec k-means codes.

    Args:
        ckpt: local path of the converted RoBERTa checkpoint (module docstring).
        vq_wav2vec_ckpt: local path of the vq-wav2vec k-means checkpoint.
        dtype: parameter dtype (default fp32).

    Output: ``L + 1`` hidden states ``(batch, frames, dim)``, one per vq-wav2vec frame
    (stride 160 samples, receptive field 465).

    Raises:
        ValueError: layout problems (:func:`read_roberta_checkpoint`).
        CheckpointKeyError: (a ``ValueError``) encoder weights missing, unexpected, misshapen,
            non-floating or non-finite (the file and the keys named).
    """

    def __init__(self, ckpt, vq_wav2vec_ckpt, dtype=None):
        super().__init__()
        cfg, self.symbols, weights = read_roberta_checkpoint(ckpt)
        self.vq_wav2vec = Wav2VecExpert(vq_wav2vec_ckpt)
        dim = int(cfg.get("encoder_embed_dim", 768))
        self.encoder = RobertaEncoder(
            vocab_size=len(self.symbols), dim=dim, ffn_dim=int(cfg.get("encoder_ffn_embed_dim", 3072)),
            num_heads=int(cfg.get("encoder_attention_heads", 12)), num_layers=int(cfg.get("encoder_layers", 12)),
            max_positions=int(cfg.get("max_positions", 512)), padding_idx=1,
            activation=str(cfg.get("activation_fn", "gelu")),
        )
        load_state_dict_strict(self.encoder, weights, where=ckpt, rename=_strip_prefix,
                               ignore_prefixes=TRAINING_ONLY_PREFIXES,
                               what=f"the RoBERTa its model_cfg describes (dictionary of {len(self.symbols)} "
                                    f"symbols; encoder names under {PREFIX})")
        groups = self.vq_wav2vec.model.vector_quantizer.groups
        self.downsample_rate = self.vq_wav2vec.downsample_rate
        self.receptive_field = self.vq_wav2vec.receptive_field
        self.hidden_sizes = [dim] * (len(self.encoder.layers) + 1)
        # token of every code tuple: a lookup table over all (num_vars ** groups) tuples
        num_vars = self.vq_wav2vec.model.vector_quantizer.num_vars
        table = torch.full((num_vars,) * groups, self.symbols["<unk>"], dtype=torch.long)
        for symbol, idx in self.symbols.items():
            parts = symbol.split("-")
            if len(parts) == groups and all(p.isdigit() and int(p) < num_vars for p in parts):
                table[tuple(int(p) for p in parts)] = idx
        self.register_buffer("code_to_token", table, persistent=False)
        self.cast_parameters(dtype)
        self.eval()

    def tokens(self, wavs: Tensor, wavs_len: Tensor) -> tuple[Tensor, Tensor]:
        """``(batch, frames + 2)`` token ids (``<s>``, codes, ``</s>``, pads) and ``(batch,)`` frames."""
        ids, frames_len = kmeans_code_ids(self.vq_wav2vec, wavs, wavs_len)
        codes = self.code_to_token[tuple(ids.unbind(-1))]  # (B, T)
        b, t = codes.shape
        tokens = torch.full((b, t + 2), 1, dtype=torch.long, device=codes.device)  # <pad> = 1
        tokens[:, 0] = self.symbols["<s>"]
        frame = torch.arange(t, device=codes.device)[None, :]
        tokens[:, 1:-1] = torch.where(frame < frames_len[:, None], codes, 1)
        tokens[torch.arange(b, device=codes.device), frames_len + 1] = self.symbols["</s>"]
        return tokens, frames_len

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        tokens, frames_len = self.tokens(wavs, wavs_len)
        chunks = [self.encoder(tokens[:, s: s + self.encoder.max_positions])
                  for s in range(0, tokens.size(1), self.encoder.max_positions)]
        states = [torch.cat(parts, dim=1)[:, 1:-1] for parts in zip(*chunks)]
        return states, frames_len
