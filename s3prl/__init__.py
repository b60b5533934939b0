"""s3prl: self-supervised speech representations behind one interface.

Importing :mod:`s3prl` is light; the entries live in :mod:`s3prl.hub`.
"""

__version__ = "0.5.0.dev0"
