"""Audio ALBERT upstream: the Mockingjay transformer with shared layers, see :mod:`s3prl.upstream.mockingjay`."""
