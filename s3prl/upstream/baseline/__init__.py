"""Baseline acoustic features (fbank, MFCC, spectrogram, log mel, log linear) as an upstream."""
