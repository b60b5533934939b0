"""WavLM upstream (gated relative position bias on the wav2vec 2.0-style model)."""
