"""CTC decoders of the ``asr`` task: greedy (always) and beam search (optional dependency).

Beam search uses the ``flashlight-text`` package (``pip install flashlight-text``; the decoder
library s3prl 0.4's ``w2l_decoder.py`` and torchaudio's ``ctc_decoder`` wrap): its
lexicon-free CTC beam search over the character vocabulary, without a language model. The
PyPI wheel of ``flashlight-text`` is built without KenLM, so a word LM is not offered here.
``pyctcdecode`` (the other maintained CTC decoder with KenLM) pins ``numpy<2`` and does not
install next to this project's numpy.
"""

from __future__ import annotations

import torch

from ..metrics import ctc_greedy_decode

__all__ = ["GreedyDecoder", "BeamSearchDecoder", "build_decoder"]


class GreedyDecoder:
    """Best-path decoding (:func:`s3prl.downstream.metrics.ctc_greedy_decode`)."""

    def __init__(self, blank: int = 0):
        self.blank = blank

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """``log_probs`` ``(batch, frames, vocab)``, ``lengths`` ``(batch,)`` -> label ids."""
        return ctc_greedy_decode(log_probs, lengths, blank=self.blank)


class BeamSearchDecoder:
    """Lexicon-free CTC prefix beam search (flashlight-text), no language model.

    Hypotheses reaching the same label prefix are merged by log-add, so with a wide beam the
    result is the most probable label sequence (summed over its CTC paths), which greedy
    best-path decoding can miss. Leading/trailing word boundaries are dropped.

    Args:
        blank: blank index.
        silence: index of the word boundary ``|``.
        beam: beam size (hypotheses kept per frame).
        beam_size_token: tokens considered per frame (default: the whole vocabulary).
        beam_threshold: prune hypotheses scoring this far below the best.

    Raises:
        ImportError: ``flashlight-text`` is not installed (the message says how to install it).
    """

    def __init__(self, blank: int, silence: int, beam: int = 5, beam_size_token: int | None = None,
                 beam_threshold: float = 25.0):
        try:
            from flashlight.lib.text import decoder as fl
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "asr decoder_type 'beam' needs the flashlight-text package: "
                "pip install flashlight-text (or use decoder_type: 'None' for greedy decoding)"
            ) from err
        self._fl = fl
        self.blank = blank
        self.silence = silence
        self.beam = int(beam)
        self.beam_size_token = beam_size_token
        self.beam_threshold = float(beam_threshold)

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """``log_probs`` ``(batch, frames, vocab)`` log-probabilities -> best label ids each."""
        fl = self._fl
        vocab = log_probs.shape[-1]
        options = fl.LexiconFreeDecoderOptions(
            beam_size=self.beam,
            beam_size_token=int(self.beam_size_token or vocab),
            beam_threshold=self.beam_threshold,
            lm_weight=0.0,
            sil_score=0.0,
            log_add=True,
            criterion_type=fl.CriterionType.CTC,
        )
        decoder = fl.LexiconFreeDecoder(options, fl.ZeroLM(), self.silence, self.blank, [])
        emissions = log_probs.detach().to(torch.float32).cpu().contiguous()
        out = []
        for b, n in enumerate(lengths.tolist()):
            n = int(n)
            if n == 0:
                out.append([])
                continue
            em = emissions[b, :n].contiguous()
            results = decoder.decode(em.data_ptr(), n, vocab)
            tokens = [int(t) for t in results[0].tokens if int(t) >= 0] if results else []
            merged = [t for i, t in enumerate(tokens) if i == 0 or t != tokens[i - 1]]
            labels = [t for t in merged if t != self.blank]
            # the decoder brackets every hypothesis with the word boundary; drop those
            while labels and labels[0] == self.silence:
                labels.pop(0)
            while labels and labels[-1] == self.silence:
                labels.pop()
            out.append(labels)
        return out


def build_decoder(decoder_args: dict | None, blank: int, silence: int):
    """Decoder from the config's ``decoder_args`` (s3prl's key): ``decoder_type`` ``'None'``
    (greedy, default) or ``'beam'`` (with ``beam``, ``beam_threshold``).

    Raises:
        ValueError: another ``decoder_type`` (e.g. ``'kenlm'``: not available, see module doc).
    """
    args = dict(decoder_args or {})
    kind = str(args.get("decoder_type", "None"))
    if kind in ("None", "none", "greedy"):
        return GreedyDecoder(blank)
    if kind == "beam":
        return BeamSearchDecoder(blank, silence, beam=args.get("beam", 5),
                                 beam_threshold=args.get("beam_threshold", 25.0))
    raise ValueError(
        f"asr decoder_args.decoder_type must be 'None' (greedy) or 'beam', got {kind!r}; "
        "KenLM word-LM decoding is not available (flashlight-text's PyPI wheel has no KenLM)"
    )
