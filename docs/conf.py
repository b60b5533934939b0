"""Sphinx configuration of the s3prl docs (``sphinx-build -W -b html docs docs/_build/html``)."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))

project = "s3prl"
author = "the s3prl developers"
copyright = "the s3prl developers, Apache-2.0"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "upstream_collection"]
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # signatures keep the annotations; no cross-reference warnings
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"page_width": "1400px", "body_max_width": "none"}
nitpicky = False
napoleon_google_docstring = True
napoleon_use_ivar = True  # "Attributes:" sections as fields (no duplicate object descriptions)
smartquotes = False
