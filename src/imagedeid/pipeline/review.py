"""The review page: before/after thumbnails of every redacted or sequestered image.

It lives in the run's state folder (beside OUTPUT, never inside it). The "before"
thumbnails show original pixels, so the page is for the data holder only. Entries are
named by keyed input id; the id -> path list is failures.tsv / the journal.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from imagedeid.model import FileResult, FileStatus

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em} .note{color:#555;max-width:60em}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:.4em;vertical-align:top}
th{background:#f3f3f3;text-align:left} img{max-width:320px;image-rendering:pixelated}
.sequestered{background:#fff4f4} .redacted{background:#f6fff4} code{font-size:.85em}
"""


def review_page(results: Iterable[FileResult], profile_label: str) -> str:
    rows = []
    for res in results:
        before = next((n for n in res.review if n.endswith("-before.png")), "")
        after = next((n for n in res.review if n.endswith("-after.png")), "")
        sequestered = res.status is FileStatus.QUARANTINED
        status = "sequestered for review" if sequestered else f"redacted ({res.pixel_boxes} boxes)"
        reason = res.reason if sequestered else (res.reason or "")
        rows.append(
            f'<tr class="{"sequestered" if sequestered else "redacted"}">'
            f"<td><code>{html.escape(res.journal_key)}</code></td>"
            f"<td>{html.escape(status)}<br><small>{html.escape(reason)}</small></td>"
            f"<td>{_img(before, 'before, boxes outlined in red')}</td>"
            f"<td>{_img(after, 'after')}</td></tr>"
        )
    count = len(rows)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>imagedeid pixel review</title><style>{_STYLE}</style></head><body>"
        f"<h1>Burned-in text: {count} image{'s' if count != 1 else ''} to review</h1>"
        f"<p class='note'>Profile {html.escape(profile_label)}. Red boxes show what was "
        "masked on every frame. Before-thumbnails show ORIGINAL pixels: keep this folder "
        "with the data holder. Sequestered files were not released; input ids map to "
        "paths in failures.tsv.</p>"
        "<table><tr><th>input id</th><th>result</th><th>before</th><th>after</th></tr>"
        + "".join(rows)
        + "</table></body></html>\n"
    )


def _img(name: str, alt: str) -> str:
    if not name:
        return "&mdash;"
    return f'<img src="{html.escape(name)}" alt="{html.escape(alt)}" loading="lazy">'
