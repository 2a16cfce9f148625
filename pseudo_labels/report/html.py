"""The report's blocks as one static HTML page: no CDN, no external file but its own images; works offline.

The per-image table sorts on a click on any column header (plain inline
JavaScript). A second small script marks images that fail to load (a red
frame and the missing path) and records the counts on ``<body>`` as
``data-images-loaded`` / ``data-images-broken``, which a headless browser test reads.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

TEXT_COLOURS = {
    "body": ("#111111", "#ffffff"),
    "a": ("#0645ad", "#ffffff"),
    "figcaption": ("#333333", "#ffffff"),
    "thead th": ("#111111", "#eeeeee"),
    "code": ("#111111", "#f0f0f0"),
    ".banner": ("#ffffff", "#b00020"),
    ".banner code": ("#ffffff", "#6e0014"),
    ".banner a": ("#ffffff", "#b00020"),
    ".missing": ("#b00020", "#ffffff"),
}
"""Every (text, background) pair the stylesheet sets, as one rule each: the test holds each to 4.5:1 (WCAG AA).
A selector that sets one of the two sets both, so no text meets a background it was not checked against."""

LAYOUT = """
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em;
       line-height: 1.45; }
.banner { font-size: 1.5em; font-weight: bold; padding: 0.7em 1em; border-radius: 6px; }
.banner a { text-decoration: underline; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.95em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.sortable thead th { cursor: pointer; user-select: none; }
table.sortable thead th[data-order="asc"]::after { content: " \\25B2"; }
table.sortable thead th[data-order="desc"]::after { content: " \\25BC"; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1em; }
.gallery img { width: 100%; }
img.broken { outline: 4px solid #b00020; min-height: 2em; }
.missing { font-weight: bold; }
code { padding: 0 0.2em; }
"""

STYLE = LAYOUT + "".join(f"{selector} {{ color: {text}; background: {background}; }}\n"
                         for selector, (text, background) in TEXT_COLOURS.items())
"""The page's stylesheet: the layout, then the text colours (:data:`TEXT_COLOURS`)."""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.querySelectorAll("thead th");
  headers.forEach(function (th, column) {
    th.addEventListener("click", function () {
      var order = th.getAttribute("data-order") === "asc" ? "desc" : "asc";
      headers.forEach(function (other) { other.removeAttribute("data-order"); });
      th.setAttribute("data-order", order);
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-value"), y = b.cells[column].getAttribute("data-value");
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp;
        if (!isNaN(nx) || !isNaN(ny)) {
          if (isNaN(nx)) return 1;   // no value: last in either order
          if (isNaN(ny)) return -1;
          cmp = nx - ny;
        } else {
          cmp = x < y ? -1 : (x > y ? 1 : 0);
        }
        return order === "asc" ? cmp : -cmp;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

IMAGE_CHECK_SCRIPT = """
function checkImages() {
  var loaded = 0, broken = 0;
  document.querySelectorAll("img").forEach(function (img) {
    if (img.complete && img.naturalWidth > 0) { loaded += 1; return; }
    broken += 1;
    if (!img.classList.contains("broken")) {
      img.classList.add("broken");
      var note = document.createElement("span");
      note.className = "missing";
      note.textContent = "image missing: " + img.getAttribute("src");
      img.insertAdjacentElement("afterend", note);
    }
  });
  document.body.setAttribute("data-images-loaded", String(loaded));
  document.body.setAttribute("data-images-broken", String(broken));
}
if (document.readyState === "complete") { checkImages(); } else { window.addEventListener("load", checkImages); }
"""

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def inline(text: str) -> str:
    """Escaped HTML of a text with `code`, **bold** and [links](href)."""
    out = html.escape(text, quote=True)
    out = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", out)
    out = _BOLD.sub(lambda m: f"<strong>{m.group(1)}</strong>", out)
    return _LINK.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', out)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], sortable: bool = False,
           links: Sequence[str | None] | None = None) -> list[str]:
    cls = ' class="sortable"' if sortable else ""
    out = [f"<table{cls}>", "<thead><tr>" + "".join(f"<th>{inline(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for index, row in enumerate(rows):
        cells = []
        for column, cell in enumerate(row):
            content = inline(cell)
            if column == 0 and links and links[index]:
                content = f'<a href="{_attr(links[index])}">{html.escape(cell)}</a>'
            value = "" if cell == "n/a" else cell.strip("`")
            cells.append(f'<td data-value="{_attr(value)}">{content}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    return out + ["</tbody>", "</table>"]


def to_html(blocks: Sequence[tuple]) -> str:
    """A complete HTML page of the report blocks (see :data:`pseudo_labels.report.markdown.Block`)."""
    title = next((b[1] for b in blocks if b[0] == "h1"), "Report")
    body: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{inline(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{inline(block[1])}</p>")
        elif kind == "banner":
            body.append(f'<div class="banner" role="alert">{inline(block[1])}</div>')
        elif kind == "table":
            body += _table(block[1], block[2])
        elif kind == "figure":
            others = "".join(f' <a href="{_attr(path)}">{html.escape(label)}</a>' for label, path in
                             (block[3] if len(block) > 3 else []))
            body.append(f'<figure><img src="{_attr(block[1])}" alt="{_attr(block[2])}">'
                        f"<figcaption>{inline(block[2])}{' (also as' + others + ')' if others else ''}"
                        f"</figcaption></figure>")
        elif kind == "gallery":
            body.append('<div class="gallery">')
            for path, caption in block[1]:
                body.append(f'<figure><a href="{_attr(path)}"><img src="{_attr(path)}" alt="{_attr(caption)}" '
                            f'loading="eager"></a><figcaption>{inline(caption)}</figcaption></figure>')
            body.append("</div>")
        elif kind == "images":
            body.append("<p>Click a column header to sort.</p>")
            body += _table(block[1], block[2], sortable=True, links=block[3])
        else:
            raise ValueError(f"unknown block {kind!r}")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
        *body, f"<script>{SORT_SCRIPT}</script>", f"<script>{IMAGE_CHECK_SCRIPT}</script>", "</body>", "</html>", ""])
