"""The Sphinx docs build with warnings as errors, and the generated collection page is complete."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import s3prl.hub as hub

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory) -> Path:
    pytest.importorskip("sphinx")
    out = tmp_path_factory.mktemp("docs_html")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-E", "-q", "-b", "html", str(REPO / "docs"), str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_collection_page_lists_every_entry(built_docs):
    page = (built_docs / "upstreams.html").read_text(encoding="utf-8")
    table = page[page.index("<tbody>"): page.index("</tbody>")]
    listed = re.findall(r'<td><p><code class="docutils literal[^"]*"><span class="pre">(\w+)</span>', table)
    assert sorted(listed) == hub.options()
    assert f"{len(hub.options())} entries from" in page


def test_collection_page_shows_registry_facts(built_docs):
    page = (built_docs / "upstreams.html").read_text(encoding="utf-8")
    row = re.search(r'<tr class="[^"]*" id="entry-example">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)]
    info = hub.example.info
    assert cells == [
        "", info.model, "example", "", "wav", "160 (10 ms)", "3", "16", "", "none needed", info.verified,
    ]


def test_docs_pages_exist(built_docs):
    for page in ("index", "upstreams", "extraction", "how_to_add_upstream", "interface", "downstream",
                 "how_to_add_downstream", "downstream_tasks", "downstream_sequence_tasks"):
        assert (built_docs / f"{page}.html").is_file()
