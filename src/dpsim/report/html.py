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
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav ol { columns: 2; } .meta { color: #555; margin-top: 0.2em; }
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
.question { font-size: 18px; margin: 0.2em 0; }
#answer h2 { margin-top: 0.8em; } table.answer { font-size: 15px; margin-bottom: 0.3em; }
table.answer td, table.answer th { padding: 4px 12px; text-align: left; white-space: nowrap; }
.legend { color: #555; font-size: 13px; }
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


def _class(css_class: str) -> str:
    return f' class="{css_class}"' if css_class else ""


def paragraph(text: str, css_class: str = "") -> str:
    return f"<p{_class(css_class)}>{escape(text)}</p>"


def bullet_list(items: Iterable[str], css_class: str = "") -> str:
    rows = "".join(f"<li>{escape(item)}</li>" for item in items)
    return f"<ul{_class(css_class)}>{rows}</ul>"


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


def table(frame: pd.DataFrame, max_rows: int = 200, note: str = "", css_class: str = "") -> str:
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
    rows = "".join(body)
    head = f"<thead><tr>{head}</tr></thead>"
    return f"<table{_class(css_class)}>{head}<tbody>{rows}</tbody></table>{extra}"


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


#: Tables longer than this many rows fold away (:func:`folded_table`): the detail sections
#: should read as text with tables one click away, not as screens of rows.
FOLD_ABOVE = 12


def folded_table(title: str, frame: pd.DataFrame, note: str = "") -> str:
    """``frame`` as a table, folded into a ``<details>`` titled ``title`` when it is long."""
    if len(frame) <= FOLD_ABOVE:
        return table(frame, note=note)
    return collapsible(f"{title} ({len(frame)} rows)", table(frame, note=note))


def _sections(sections: Sequence[Section]) -> str:
    return "".join(
        f'<section id="{s.id}"><h2>{escape(s.title)}</h2>{s.body}</section>' for s in sections
    )


def page(
    title: str,
    question: str,
    subtitle: str,
    banner: str,
    opening: Sequence[Section],
    detail: Sequence[Section],
) -> str:
    """The whole document: title, the study's question in one line, the run's line, optional
    banner, then the ``opening`` sections (the answer, on the first screen), a table of contents
    of the ``detail`` sections, and those."""
    toc = "".join(f'<li><a href="#{s.id}">{escape(s.title)}</a></li>' for s in detail)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="question">{escape(question)}</p>'
        f'<p class="meta">{escape(subtitle)}</p>{banner}{_sections(opening)}'
        f"<nav><h2>In detail</h2><ol>{toc}</ol></nav>{_sections(detail)}</body></html>"
    )
