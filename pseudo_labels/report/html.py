"""The report's blocks as one static HTML page: no CDN, no external file but its own images; works offline.

The per-image table sorts on a click on any column header (plain inline
JavaScript). A second small script marks images that fail to load (a red
frame and the missing path) and records the counts on ``<body>`` as
``data-images-loaded`` / ``data-images-broken``, which a headless browser test reads.
The page is a Jinja2 template with autoescaping (:data:`PAGE`); text from the data
is never read as markup (:mod:`pseudo_labels.report.text`).
"""

from __future__ import annotations

from collections.abc import Sequence

import jinja2
import markupsafe

from pseudo_labels.report.text import Inline, checked_url, file_url, plain, tokens

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

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>{{ style }}</style>
</head>
<body>
{%- macro inline(items) -%}
{%- for item in items -%}
{%- if item.kind == "text" -%}{{ item.text }}
{%- elif item.kind == "code" -%}<code>{{ item.text }}</code>
{%- elif item.kind == "bold" -%}<strong>{{ inline(item.content) }}</strong>
{%- else -%}<a href="{{ item.url }}">{{ inline(item.content) }}</a>
{%- endif -%}
{%- endfor -%}
{%- endmacro -%}
{%- macro table(block, sortable) -%}
<table{% if sortable %} class="sortable"{% endif %}>
<thead><tr>{% for cell in block.header %}<th>{{ inline(cell) }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in block.rows -%}
<tr>{% for cell in row %}<td data-value="{{ cell.value }}">
{%- if cell.url %}<a href="{{ cell.url }}">{{ inline(cell.content) }}</a>{% else %}{{ inline(cell.content) }}{% endif -%}
</td>{% endfor %}</tr>
{% endfor -%}
</tbody>
</table>
{%- endmacro %}
{% for block in blocks -%}
{% if block.kind in ("h1", "h2", "h3") -%}
<{{ block.kind }}>{{ inline(block.text) }}</{{ block.kind }}>
{% elif block.kind == "p" -%}
<p>{{ inline(block.text) }}</p>
{% elif block.kind == "banner" -%}
<div class="banner" role="alert">{{ inline(block.text) }}</div>
{% elif block.kind == "table" -%}
{{ table(block, false) }}
{% elif block.kind == "figure" -%}
<figure><img src="{{ block.src }}" alt="{{ block.alt }}"><figcaption>{{ inline(block.caption) }}
{%- if block.others %} (also as{% for other in block.others %} <a href="{{ other.url }}">{{ other.label }}</a>{% endfor %})
{%- endif %}</figcaption></figure>
{% elif block.kind == "gallery" -%}
<div class="gallery">
{% for item in block.pictures -%}
<figure><a href="{{ item.url }}"><img src="{{ item.url }}" alt="{{ item.alt }}" loading="eager"></a><figcaption>
{{- inline(item.caption) }}</figcaption></figure>
{% endfor -%}
</div>
{% elif block.kind == "images" -%}
<p>Click a column header to sort.</p>
{{ table(block, true) }}
{% endif -%}
{% endfor -%}
<script>{{ sort_script }}</script>
<script>{{ image_check_script }}</script>
</body>
</html>
"""
"""The page, as a Jinja2 template with autoescaping: every text it is given is escaped; only the
stylesheet and the two scripts (constants of this module) are inserted as they are."""

_ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _cell(cell: Inline, url: str | None = None) -> dict:
    """A table cell for the template: its text, its sort value ("" for n/a) and the picture it links."""
    value = plain(cell)
    return {"content": tokens(cell), "value": "" if value == "n/a" else value,
            "url": None if url is None else checked_url(file_url(url))}


def _view(block: tuple) -> dict:
    """One report block (:data:`pseudo_labels.report.markdown.Block`) as plain values for the template."""
    kind = block[0]
    if kind in ("h1", "h2", "h3", "p", "banner"):
        return {"kind": kind, "text": tokens(block[1])}
    if kind in ("table", "images"):
        links = block[3] if kind == "images" else [None] * len(block[2])
        return {"kind": kind, "header": [tokens(h) for h in block[1]],
                "rows": [[_cell(cell, link if column == 0 else None) for column, cell in enumerate(row)]
                         for row, link in zip(block[2], links)]}
    if kind == "figure":
        return {"kind": kind, "src": file_url(block[1]), "alt": plain(block[2]), "caption": tokens(block[2]),
                "others": [{"label": plain(label), "url": file_url(path)}
                           for label, path in (block[3] if len(block) > 3 else [])]}
    if kind == "gallery":
        return {"kind": kind, "pictures": [{"url": file_url(path), "alt": plain(caption), "caption": tokens(caption)}
                                        for path, caption in block[1]]}
    raise ValueError(f"unknown block {kind!r}")


def to_html(blocks: Sequence[tuple]) -> str:
    """A complete HTML page of the report blocks (see :data:`pseudo_labels.report.markdown.Block`).

    Built by the autoescaping template :data:`PAGE`: text from the blocks is
    always text; links and images come only from the blocks' file fields and
    :class:`~pseudo_labels.report.text.Link` spans, URL-encoded and relative or http(s).
    """
    title = next((plain(b[1]) for b in blocks if b[0] == "h1"), "Report")
    return _ENVIRONMENT.from_string(PAGE).render(
        title=title, blocks=[_view(b) for b in blocks], style=markupsafe.Markup(STYLE),
        sort_script=markupsafe.Markup(SORT_SCRIPT), image_check_script=markupsafe.Markup(IMAGE_CHECK_SCRIPT))
