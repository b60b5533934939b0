"""DistilHuBERT upstream (the original s3prl toolkit's "distiller")."""
