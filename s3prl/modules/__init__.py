"""Model components shared by upstream families (no family-specific code here).

* :mod:`s3prl.modules.position`: sinusoidal tables for relative position attention
  (Transformer-XL style) and rotary position embeddings (RoFormer).
* :mod:`s3prl.modules.conformer`: the Conformer block (macaron feed-forward modules,
  relative-position or rotary self-attention, convolution module) and a padding-aware
  Conformer encoder stack.
* :mod:`s3prl.modules.vit`: ViT blocks, patch embedding and positional-grid resizing
  (AST, SSAST, MAE-AST, PaSST).

A family folder (``s3prl/upstream/<family>/``) imports these and keeps only its entries,
its checkpoint reading and its thin ``UpstreamExpert``. Importing this package is cheap;
each submodule imports torch.
"""
