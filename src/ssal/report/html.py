"""The report page: one self-contained HTML file (inline style, PNGs beside it, no script, no server)."""

from __future__ import annotations

import html
from typing import Sequence

__all__ = ["page", "table", "figure", "section"]

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; } img { max-width: 100%; } .note { color: #a33; } .small { color: #666; font-size: 0.85em; }
"""


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return html.escape("" if value is None else str(value))


def table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def figure(src: str, caption: str) -> str:
    return f'<figure><img src="{html.escape(src)}" alt="{html.escape(caption)}"><figcaption class="small">' \
           f"{html.escape(caption)}</figcaption></figure>"


def section(title: str, *parts: str) -> str:
    return f"<h2>{html.escape(title)}</h2>" + "".join(parts)


def paragraph(text: str, css: str = "") -> str:
    return f'<p class="{css}">{html.escape(text)}</p>' if css else f"<p>{html.escape(text)}</p>"


def page(title: str, parts: Sequence[str]) -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>\n")
