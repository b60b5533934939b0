"""Building blocks of the downstream benchmark, importable on their own.

* :class:`S3PRLUpstream`: any hub entry behind a padded-batch interface
  (``(wavs, wavs_len) -> (all_hs, all_hs_len)``), the API s3prl 0.4 users and
  ESPnet's ``S3prlFrontend`` import from ``s3prl.nn``;
* :class:`Featurizer`: the learned softmax-weighted sum of an upstream's hidden
  states (SUPERB's layer weighting).
"""

from s3prl.nn.featurizer import Featurizer
from s3prl.nn.upstream import S3PRLUpstream

__all__ = ["S3PRLUpstream", "Featurizer"]
