"""UniSpeech-SAT upstream (wav2vec 2.0-style model, UniLM checkpoint layout)."""
