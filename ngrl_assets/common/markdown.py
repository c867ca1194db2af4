"""Markdown to one self-contained HTML page, for the documents the platform files in the
lake (release notes, withdrawal erasure reports). A small subset only: headings, lists,
tables, images and paragraphs, with inline ``code``; images are embedded as ``data:``
URIs and links to files become text, so the page stands alone. No Dagster.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping


def _inline(text: str) -> str:
    """Inline Markdown (``code``) as escaped HTML."""
    parts = html.escape(text, quote=False).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def markdown_to_html(md: str, images: Mapping[str, bytes], title: str) -> str:
    """The notes' Markdown subset (headings, lists, tables, images, paragraphs) as one
    self-contained HTML page: images become ``data:`` URIs, links to files become text."""
    body: list[str] = []
    in_list = 0
    table: list[list[str]] = []

    def flush_table() -> None:
        if not table:
            return
        body.append("<table>")
        for i, cells in enumerate(table):
            tag = "th" if i == 0 else "td"
            body.append("<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in cells) + "</tr>")
        body.append("</table>")
        table.clear()

    def close_lists(level: int = 0) -> None:
        nonlocal in_list
        while in_list > level:
            body.append("</ul>")
            in_list -= 1

    for line in md.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            close_lists()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(set(c) <= {"-", ":"} for c in cells):
                table.append(cells)
            continue
        flush_table()
        if stripped.startswith("- "):
            level = 2 if line.startswith("  ") else 1
            while in_list < level:
                body.append("<ul>")
                in_list += 1
            close_lists(level)
            body.append(f"<li>{_inline(stripped[2:])}</li>")
            continue
        close_lists()
        if not stripped:
            continue
        if stripped.startswith("#"):
            depth = len(stripped) - len(stripped.lstrip("#"))
            body.append(f"<h{depth}>{_inline(stripped[depth:].strip())}</h{depth}>")
        elif stripped.startswith("![") and stripped.endswith(")"):
            alt, _, src = stripped[2:-1].partition("](")
            data = base64.b64encode(images[src]).decode("ascii")
            body.append(f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>')
        else:
            text = stripped
            while "](" in text and "[" in text:  # [label](file) -> label (file)
                start = text.index("[")
                mid = text.index("](", start)
                end = text.index(")", mid)
                text = text[:start] + text[start + 1 : mid] + text[end + 1 :]
            body.append(f"<p>{_inline(text)}</p>")
    flush_table()
    close_lists()
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}"
        "img{max-width:100%}code{background:#f4f4f4}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
