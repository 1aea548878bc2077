"""Self-contained HTML: one file, inline CSS, figures embedded as data URIs, no script, no URL.

The page must open from disk on a machine without network access and show everything, so
nothing is fetched: images are base64-encoded PNGs and the stylesheet is inline.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dpsim.report.findings import format_p

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em 2em;
       color: #1b1b1b; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav ol { columns: 2; } .meta { color: #555; }
.banner { background: #fff3cd; border: 2px solid #d39e00; padding: 0.8em 1.2em; margin: 1em 0; }
.banner strong { color: #8a5a00; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #333; font-size: 14px; } pre { background: #f6f6f6; padding: 1em;
overflow-x: auto; font-size: 12px; } details summary { cursor: pointer; color: #0645ad; }
ul.findings li { margin-bottom: 0.5em; }
"""

_PVALUE = re.compile(r"(^|_)p($|_)")


@dataclass(frozen=True)
class Section:
    """One ``<section>`` of the report, with its id for the table of contents."""

    id: str
    title: str
    body: str


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def bullet_list(items: Iterable[str], css_class: str = "") -> str:
    rows = "".join(f"<li>{escape(item)}</li>" for item in items)
    attribute = f' class="{css_class}"' if css_class else ""
    return f"<ul{attribute}>{rows}</ul>"


def _cell(column: str, value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if _PVALUE.search(column):
            return format_p(value)
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"
    return str(value)


def table(frame: pd.DataFrame, max_rows: int = 200, note: str = "") -> str:
    """An HTML table of ``frame`` (p-values in scientific notation, other floats 4 decimals).

    Tables longer than ``max_rows`` show their first rows and say where the full table is.
    """
    if frame.empty:
        return paragraph(note or "(no rows)")
    shown = frame.head(max_rows)
    head = "".join(f"<th>{escape(c)}</th>" for c in shown.columns)
    body = []
    for row in shown.itertuples(index=False):
        cells = []
        for column, value in zip(shown.columns, row, strict=True):
            css = ' class="text"' if isinstance(value, str) else ""
            cells.append(f"<td{css}>{escape(_cell(column, value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    extra = ""
    if len(frame) > max_rows:
        extra = paragraph(f"First {max_rows} of {len(frame)} rows. {note}".strip())
    elif note:
        extra = paragraph(note)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{extra}"


def key_values(pairs: Sequence[tuple[str, str]]) -> str:
    rows = "".join(
        f'<tr><th>{escape(key)}</th><td class="text">{escape(value)}</td></tr>'
        for key, value in pairs
    )
    return f"<table>{rows}</table>"


def figure(png_path: str | Path, title: str, caption: str) -> str:
    """A figure embedded as a base64 PNG data URI, with its title and caption."""
    data = base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(title)}">'
        f"<figcaption><strong>{escape(title)}.</strong> {escape(caption)}</figcaption></figure>"
    )


def collapsible(summary: str, body: str) -> str:
    return f"<details><summary>{escape(summary)}</summary>{body}</details>"


def page(title: str, subtitle: str, banner: str, sections: Sequence[Section]) -> str:
    """The whole document: title, optional banner, table of contents, sections."""
    toc = "".join(f'<li><a href="#{s.id}">{escape(s.title)}</a></li>' for s in sections)
    body = "".join(
        f'<section id="{s.id}"><h2>{escape(s.title)}</h2>{s.body}</section>' for s in sections
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="meta">{escape(subtitle)}</p>{banner}'
        f"<nav><ol>{toc}</ol></nav>{body}</body></html>"
    )
