"""Sphinx extension: the upstream collection table, generated from the registry at build time.

``.. upstream-collection::`` renders one row per entry of :mod:`s3prl.hub` with the facts of
its ``@entry`` record (:class:`s3prl.util.registry.EntryInfo`), so the page cannot drift from
the code: adding an entry to a ``hubconf.py`` adds its row. Importing :mod:`s3prl.hub` is
cheap (no model code), so this keeps the docs build fast.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from urllib.parse import urlparse

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

COLUMNS = [
    ("Published", 7),
    ("Model", 16),
    ("Entry", 16),
    ("Paper", 9),
    ("Input", 5),
    ("Stride", 8),
    ("Layers", 5),
    ("Hidden size", 6),
    ("Pre-training data", 12),
    ("Checkpoint", 14),
    ("Verified", 14),
]


def needs_ckpt_argument(fn) -> bool:
    """True when the entry must be given ``ckpt`` (``*_local`` / ``*_url`` entries)."""
    param = inspect.signature(fn).parameters.get("ckpt")
    return param is not None and param.default is inspect.Parameter.empty


def _text(value) -> nodes.Node:
    return nodes.Text("" if value in (None, "") else str(value))


def _link(url: str, label: str) -> nodes.Node:
    return nodes.reference("", label, refuri=url, internal=False)


def paper_cell(url: str) -> nodes.Node:
    if not url:
        return _text("")
    parsed = urlparse(url)
    if parsed.netloc.endswith("arxiv.org"):
        label = "arXiv:" + parsed.path.rstrip("/").split("/")[-1]
    else:
        label = parsed.netloc.removeprefix("www.") or url
    return _link(url, label)


def ckpt_cell(fn, url: str) -> nodes.Node:
    if url:
        parsed = urlparse(url)
        name = parsed.path.rstrip("/").split("/")[-1] or parsed.netloc
        return _link(url, f"{name} ({parsed.netloc})")
    if needs_ckpt_argument(fn):
        return _text("given by the user (ckpt=...)")
    return _text("none needed")


def entry_rows(hub) -> list[tuple[str, list[nodes.Node]]]:
    """``(entry_name, cells)`` per entry, sorted by publication date then family and name."""
    rows = []
    for name in hub.options():
        fn = getattr(hub, name)
        info = getattr(fn, "info", None)
        literal = nodes.literal(name, name)
        if info is None:
            cells = [_text(""), _text("(no @entry record)"), literal] + [_text("")] * 8
            rows.append((("9999", "", name), name, cells))
            continue
        stride = f"{info.stride} ({info.stride / 16:g} ms)" if info.stride else ""
        cells = [
            _text(info.date),
            _text(info.model),
            literal,
            paper_cell(info.paper),
            _text(info.input),
            _text(stride),
            _text(info.layers),
            _text(info.hidden_size),
            _text(info.data),
            ckpt_cell(fn, info.ckpt),
            _text(info.verified or "no"),
        ]
        rows.append(((info.date or "9999", info.family, name), name, cells))
    rows.sort(key=lambda r: r[0])
    return [(name, cells) for _, name, cells in rows]


class UpstreamCollection(SphinxDirective):
    """``.. upstream-collection::``: the generated table of every upstream entry."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        import s3prl.hub as hub

        upstream_dir = Path(hub.__file__).resolve().parent / "upstream"
        for hubconf in sorted(upstream_dir.glob("*/hubconf.py")):
            self.env.note_dependency(str(hubconf))
        rows = entry_rows(hub)
        families = sorted({getattr(getattr(hub, n), "info", None).family for n, _ in rows
                           if getattr(getattr(hub, n), "info", None) is not None})
        intro = nodes.paragraph(
            text=f"{len(rows)} entries from {len(families)} upstream folders "
            f"({', '.join(families)}), generated from s3prl.hub when these docs were built."
        )
        table = nodes.table(classes=["upstream-collection"])
        tgroup = nodes.tgroup(cols=len(COLUMNS))
        table += tgroup
        for _, width in COLUMNS:
            tgroup += nodes.colspec(colwidth=width)
        thead = nodes.thead()
        tgroup += thead
        thead += self._row([nodes.Text(title) for title, _ in COLUMNS])
        tbody = nodes.tbody()
        tgroup += tbody
        for name, cells in rows:
            row = self._row(cells)
            row["ids"].append(nodes.make_id(f"entry-{name}"))
            tbody += row
        return [intro, table]

    @staticmethod
    def _row(cells) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            para = nodes.paragraph()
            para += cell
            entry += para
            row += entry
        return row


def setup(app):
    app.add_directive("upstream-collection", UpstreamCollection)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
