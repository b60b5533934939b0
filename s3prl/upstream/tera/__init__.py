"""TERA upstream: the Mockingjay transformer implementation, see :mod:`s3prl.upstream.mockingjay`."""
