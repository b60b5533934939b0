"""CTC decoders of the ``asr`` task: greedy (always) and beam search (optional dependency).

Beam search uses the ``flashlight-text`` package (``pip install flashlight-text``; the decoder
library s3prl 0.4's ``w2l_decoder.py`` and torchaudio's ``ctc_decoder`` wrap):

* ``decoder_type: beam``: its lexicon-free CTC beam search over the characters, no LM;
* ``decoder_type: kenlm``: its lexicon-constrained beam search with a KenLM word n-gram LM
  (``kenlm_model``: ARPA or binary file) and a word lexicon (``lexicon``: fairseq's
  ``librispeech_lexicon.lst`` format, ``WORD<TAB>W O R D |``), s3prl 0.4's keys and weights
  (``lm_weight``, ``word_score``, ``unk_weight``, ``sil_weight``, ``beam``,
  ``beam_threshold``). The PyPI wheel of ``flashlight-text`` is built without KenLM, so the LM
  is queried through the ``kenlm`` Python module (``pip install kenlm``, built from source)
  behind flashlight's ``LM`` interface, as torchaudio's custom-LM decoder does.

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


class KenLMDecoder:
    """Lexicon-constrained CTC beam search with a KenLM word LM (flashlight-text + kenlm).

    Args:
        symbols: output symbols by index (index ``blank`` is the blank, ``|`` the boundary).
        blank: blank index.
        kenlm_model: ARPA or KenLM binary file.
        lexicon: ``WORD<TAB>spelling`` lines (spelling = space-separated symbols; a final ``|``
            is dropped: the boundary is the decoder's silence between words); words with
            symbols outside ``symbols`` are skipped.
        beam, beam_threshold, lm_weight, word_score, unk_weight, sil_weight: flashlight's
            ``LexiconDecoderOptions`` (s3prl 0.4's ``decoder_args`` names).

    Output: label ids of the best word sequence, words joined by ``|``.

    Raises:
        ImportError: ``flashlight-text`` or ``kenlm`` missing. FileNotFoundError: the LM or
            lexicon file missing (named). ValueError: no usable lexicon entry.
    """

    def __init__(self, symbols: list[str], blank: int, kenlm_model, lexicon, beam: int = 5,
                 beam_threshold: float = 25.0, lm_weight: float = 2.0, word_score: float = -1.0,
                 unk_weight: float = float("-inf"), sil_weight: float = 0.0):
        try:
            import kenlm
            from flashlight.lib.text import decoder as fl
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "asr decoder_type 'kenlm' needs the flashlight-text and kenlm packages: "
                "pip install flashlight-text kenlm"
            ) from err
        from pathlib import Path

        for name, path in (("kenlm_model", kenlm_model), ("lexicon", lexicon)):
            if not path or not Path(path).is_file():
                raise FileNotFoundError(f"asr decoder_args.{name} file not found: {path}")
        self._fl = fl
        self.symbols = list(symbols)
        index = {sym: i for i, sym in enumerate(self.symbols)}
        self.blank = blank
        self.silence = index["|"]
        self.words: list[str] = []
        spellings: list[list[int]] = []
        for line in Path(lexicon).read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) < 2:
                continue
            # the model emits "|" only between words: spellings end without it
            spelling = fields[1:-1] if fields[-1] == "|" else fields[1:]
            if all(sym in index for sym in spelling):
                self.words.append(fields[0])
                spellings.append([index[sym] for sym in spelling])
        if not self.words:
            raise ValueError(f"no lexicon entry of {lexicon} is spelled with {self.symbols}")
        self.words.append("<unk>")
        self.unk = len(self.words) - 1
        self.lm = _make_kenlm_lm(fl, kenlm.Model(str(kenlm_model)), kenlm, self.words)
        start = self.lm.start(False)
        self.trie = fl.Trie(len(self.symbols), self.silence)
        for word_idx, spelling in enumerate(spellings):
            _, score = self.lm.score(start, word_idx)
            self.trie.insert(spelling, word_idx, score)
        self.trie.smear(fl.SmearingMode.MAX)
        self.options = fl.LexiconDecoderOptions(
            beam_size=int(beam), beam_size_token=len(self.symbols),
            beam_threshold=float(beam_threshold), lm_weight=float(lm_weight),
            word_score=float(word_score), unk_score=float(unk_weight),
            sil_score=float(sil_weight), log_add=False, criterion_type=fl.CriterionType.CTC,
        )

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """``log_probs`` ``(batch, frames, vocab)`` -> label ids of the best word sequence."""
        fl = self._fl
        decoder = fl.LexiconDecoder(self.options, self.trie, self.lm, self.silence, self.blank,
                                    self.unk, [], False)
        emissions = log_probs.detach().to(torch.float32).cpu().contiguous()
        vocab = emissions.shape[-1]
        out = []
        for b, n in enumerate(lengths.tolist()):
            n = int(n)
            results = decoder.decode(emissions[b, :n].contiguous().data_ptr(), n, vocab) if n else []
            words = [self.words[w] for w in results[0].words if w >= 0] if results else []
            ids: list[int] = []
            for i, word in enumerate(words):
                if i:
                    ids.append(self.silence)
                ids += [self.symbols.index(ch) for ch in word if ch in self.symbols]
            out.append(ids)
        return out


def _make_kenlm_lm(fl, model, kenlm, words: list[str]):
    """flashlight ``LM`` over word indices, scored by a ``kenlm.Model`` (log10, as flashlight's
    own KenLM wrapper returns)."""

    class _KenLM(fl.LM):
        def __init__(self):
            super().__init__()
            self.kenlm_states = {}

        def start(self, start_with_nothing: bool):
            state = fl.LMState()
            ks = kenlm.State()
            if start_with_nothing:
                model.NullContextWrite(ks)
            else:
                model.BeginSentenceWrite(ks)
            self.kenlm_states[state] = ks
            return state

        def _advance(self, state, word: str, child_idx: int):
            out = state.child(child_idx)
            ks = kenlm.State()
            score = model.BaseScore(self.kenlm_states[state], word, ks)
            self.kenlm_states.setdefault(out, ks)
            return out, score

        def score(self, state, usr_token_idx: int):
            return self._advance(state, words[usr_token_idx], usr_token_idx)

        def finish(self, state):
            return self._advance(state, "</s>", -1)

    return _KenLM()


def build_decoder(decoder_args: dict | None, blank: int, silence: int,
                  symbols: list[str] | None = None):
    """Decoder from the config's ``decoder_args`` (s3prl's key): ``decoder_type`` ``'None'``
    (greedy, default), ``'beam'`` (``beam``, ``beam_threshold``) or ``'kenlm'``
    (:class:`KenLMDecoder`; needs ``symbols``, the vocabulary by index).

    Raises:
        ValueError: another ``decoder_type``.
    """
    args = dict(decoder_args or {})
    kind = str(args.get("decoder_type", "None"))
    if kind in ("None", "none", "greedy"):
        return GreedyDecoder(blank)
    if kind == "beam":
        return BeamSearchDecoder(blank, silence, beam=args.get("beam", 5),
                                 beam_threshold=args.get("beam_threshold", 25.0))
    if kind == "kenlm":
        unk = args.get("unk_weight", float("-inf"))
        if isinstance(unk, str):  # s3prl's config writes -math.inf
            unk = float("-inf") if "inf" in unk else float(unk)
        return KenLMDecoder(symbols, blank, args.get("kenlm_model"), args.get("lexicon"),
                            beam=args.get("beam", 5),
                            beam_threshold=args.get("beam_threshold", 25.0),
                            lm_weight=args.get("lm_weight", 2.0),
                            word_score=args.get("word_score", -1.0), unk_weight=unk,
                            sil_weight=args.get("sil_weight", 0.0))
    raise ValueError(
        f"asr decoder_args.decoder_type must be 'None' (greedy), 'beam' or 'kenlm', got {kind!r}"
    )
