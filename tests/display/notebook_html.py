"""An executed notebook as one HTML page: code cells and their outputs, as Jupyter shows them.

Outputs are placed as Jupyter places them: ``text/html`` as is (so our tables bring their
own styles), images as ``<img>``, text and streams in ``<pre>``. A stream's carriage
returns are applied the way the notebook applies them (a progress bar redraws its line).
"""

from __future__ import annotations

import html
from typing import Any

PAGE_CSS = """
body{margin:0;font:14px/1.4 system-ui,sans-serif;color:#1f2328}
.nb{max-width:1200px;margin:0 auto;padding:16px}
.cell{margin:12px 0}
.src{background:#f6f8fa;border:1px solid #d0d7de;padding:8px;margin:0;overflow-x:auto}
.out{padding:4px 8px;overflow-x:auto}
.out pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.stderr{background:#fff5f5}
"""


def notebook_page(nb: Any) -> str:
    """The whole page."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type == 'markdown':
            cells.append(f'<div class="cell"><p>{html.escape(cell.source)}</p></div>')
            continue
        if cell.cell_type != 'code':
            continue
        outs = ''.join(_output(o) for o in merge_streams(cell.get('outputs', [])))
        cells.append(
            f'<div class="cell"><pre class="src">{html.escape(cell.source)}</pre>{outs}</div>'
        )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>notebook</title>'
        f'<style>{PAGE_CSS}</style></head><body><div class="nb">{"".join(cells)}</div>'
        '</body></html>'
    )


def merge_streams(outputs: list[Any]) -> list[Any]:
    """Join consecutive stream outputs of one stream, as the notebook shows them."""
    merged: list[Any] = []
    for out in outputs:
        last = merged[-1] if merged else None
        if (
            out.get('output_type') == 'stream'
            and last is not None
            and last.get('output_type') == 'stream'
            and last['name'] == out['name']
        ):
            merged[-1] = {**last, 'text': last['text'] + out['text']}
        else:
            merged.append(out)
    return merged


def stream_text(text: str) -> str:
    """Apply carriage returns: each line keeps what was written after its last ``\\r``."""
    return '\n'.join(line.rsplit('\r', 1)[-1] for line in text.split('\n'))


def _output(out: Any) -> str:
    kind = out.get('output_type')
    if kind == 'stream':
        css = 'out stderr' if out.get('name') == 'stderr' else 'out'
        return f'<div class="{css}"><pre>{html.escape(stream_text(out["text"]))}</pre></div>'
    if kind == 'error':
        return f'<div class="out stderr"><pre>{html.escape(out["ename"])}: ' + (
            f'{html.escape(out["evalue"])}</pre></div>'
        )
    data = out.get('data', {})
    if 'text/html' in data:
        return f'<div class="out">{data["text/html"]}</div>'
    if 'image/png' in data:
        return f'<div class="out"><img src="data:image/png;base64,{data["image/png"]}"></div>'
    return f'<div class="out"><pre>{html.escape(data.get("text/plain", ""))}</pre></div>'
