"""Model components shared by several upstream families (e.g. :mod:`s3prl.modules.vit`)."""
