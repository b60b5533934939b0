"""Hugging Face ``transformers`` model folders (wav2vec 2.0, HuBERT, WavLM, UniSpeech-SAT)
read without ``transformers``."""
