"""Mockingjay upstream (shared by TERA and Audio ALBERT): see :mod:`.expert`."""
