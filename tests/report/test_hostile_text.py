"""Text from data stays text: hostile folder names, stems and class names in the Markdown and HTML reports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pseudo_labels.cli import sweep as sweep_cli
from pseudo_labels.report import html as report_html
from pseudo_labels.report import markdown as report
from pseudo_labels.report import text

LINK = "[x](javascript:alert(1))"
HOSTILE = f"{LINK}<script>alert(2)</script> #1 50% \"q\" 'q' `t` **b** ![i](javascript:alert(3))"
"""Every kind of syntax a data-derived name could smuggle in: links, images, tags, code, bold, # and %."""


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[str] = []
        self.scripts = 0
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.add(tag)
        if tag == "a":
            self.hrefs.append(values["href"] or "")
        elif tag == "img":
            self.images.append(values["src"] or "")
        elif tag == "script":
            self.scripts += 1


@pytest.fixture(scope="module")
def hostile(synthetic_val: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """A small real sweep record and pictures index, with data-derived names replaced by :data:`HOSTILE`."""
    out = tmp_path_factory.mktemp("hostile") / "sweep.json"
    assert sweep_cli.main(["--cityscapes_root", str(synthetic_val), "--semantic_subdir", "pseudo_semantic_raw_k24",
                           "--eval_size", "64", "128", "--grad_thresholds", "0.1", "--min_areas", "20",
                           "--protocol", "reference", "--workers", "1", "--output", str(out)]) == 0
    record = json.loads(out.read_text())
    record.update(semantic_subdir=f"sem`{HOSTILE}", depth_subdir=HOSTILE, split=HOSTILE)
    for entry in [*record["results"], *record["best"].values()]:
        entry["per_class"] = {HOSTILE if name == "car" else name: v for name, v in entry["per_class"].items()}
    record["inputs"][HOSTILE] = {"count": HOSTILE, "sha256": HOSTILE}
    index = {"split": "val", "semantic_subdir": HOSTILE, "units": HOSTILE, "label_free": False, "protocol": HOSTILE,
             "grad_threshold": 0.1, "min_area": 20, "depth_blur_sigma": 1.0, "dilation_iters": 3, "select": HOSTILE,
             "images": [{"stem": HOSTILE, "picture": f"{HOSTILE}.png", "instances": 3, "PQ": 1.0, "PQ_stuff": 2.0,
                         "PQ_things": 0.5, "things": {"TP": HOSTILE, "FP": 1, "FN": 2, "split": 0, "merge": 0}}]}
    return record, index


def _render(record: dict, index: dict) -> list[tuple]:
    blocks, _ = report.render(record, "fig #1 50%", pictures=index, pictures_base="pics #%")
    return blocks


def test_html_shows_hostile_names_as_text(hostile: tuple[dict, dict]) -> None:
    page = report_html.to_html(_render(*hostile))
    parsed = _Page()
    parsed.feed(page)
    assert parsed.scripts == 2  # the page's own two inline scripts, none from data
    assert "<script>alert" not in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert not any(href.lower().startswith(("javascript", "data", "//")) for href in parsed.hrefs), parsed.hrefs
    assert parsed.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "div", "code",
                           "strong", "table", "thead", "tbody", "tr", "th", "td", "figure", "img", "figcaption", "a",
                           "script"}
    picture = text.file_url(f"pics #%/{HOSTILE}.png")
    assert picture in parsed.images and picture in parsed.hrefs  # gallery image, its link and the table's link
    assert "%23" in picture and "%25" in picture and "#" not in picture and ":" not in picture
    assert "fig%20%231%2050%25_reference_heatmap.png" in parsed.images  # the report's own figures, encoded too
    assert f"{LINK}&lt;script&gt;" in page  # the name is still shown, as text


def test_markdown_escapes_hostile_names(hostile: tuple[dict, dict]) -> None:
    markdown = report.to_markdown(_render(*hostile))
    live = re.sub(r"(`+).+?\1", "", re.sub(r"\\.", "", markdown))  # what is left outside escapes and code spans
    assert "](javascript" not in live and "<script>" not in live and "javascript" in markdown
    assert r"\[x\](javascript:alert(1))\<script\>" in markdown  # the brackets escaped: shown, not linked
    assert r"\!\[i\]" in markdown and r"\*\*b\*\*" in markdown and r"\#1 50% " in markdown
    assert f"]({text.file_url('pics #%/' + HOSTILE + '.png')})" in markdown  # the picture link, encoded
    assert "![Per-class PQ of each protocol's best configuration](fig%20%231%2050%25_per_class.png)" in markdown
    for line in markdown.splitlines():  # a hostile cell neither adds nor removes table columns
        if line.startswith("| class |"):
            header = line.count(" | ")
        elif line.startswith("| ") and HOSTILE[:5] in line.replace("\\", "") and "thing" in line:
            assert line.replace("\\|", "").count(" | ") == header


def test_links_are_relative_or_http_and_encoded() -> None:
    for bad in ("javascript:alert(1)", "JavaScript:x", "data:text/html,x", "file:///etc/passwd", "//evil.example/x",
                "a b.png"):
        with pytest.raises(ValueError):
            text.checked_url(bad)
    assert text.checked_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    assert text.file_url("javascript:alert(1)") == "javascript%3Aalert%281%29"  # a file name, never a scheme
    assert text.file_url("//evil/x#1%") == ".///evil/x%231%25"
    with pytest.raises(ValueError):
        text.Link("x", "javascript:alert(1)")


def test_markdown_code_and_escapes() -> None:
    assert text.markdown_code("a`b") == "``a`b``" and text.markdown_code("`a") == "`` `a ``"
    assert text.markdown_code("a|b", in_table=True) == r"`a\|b`"
    assert text.escape_markdown("frankfurt_000000_000019") == "frankfurt_000000_000019"  # intraword: never emphasis
    assert text.escape_markdown("_a_ *b*\n[c]") == r"\_a\_ \*b\* \[c\]"
    assert text.from_markup("see `a [x](y)` and **b**") == (
        text.Data("see "), text.Code("a [x](y)"), text.Data(" and "), text.Bold(text.Data("b")))


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


WATCH = """<script>
var alerts = 0; window.alert = function () { alerts += 1; };
window.addEventListener("load", function () {
  var links = Array.from(document.querySelectorAll("a"));
  var targets = links.map(function (a) { return a.protocol; }).concat(
    Array.from(document.images).map(function (i) { return new URL(i.src).protocol; }));
  var bad = targets.filter(function (p) { return !["file:", "http:", "https:"].includes(p); });
  document.body.setAttribute("data-alerts", alerts);
  document.body.setAttribute("data-bad-links", bad.length);
  document.body.setAttribute("data-links", links.length);
  document.body.setAttribute("data-shown", document.body.innerText.includes("[x](javascript:alert(1))<script>"));
});
</script>"""
"""Counts alerts (a hostile script that ran) and links or images of a scheme other than file or http(s), as the
browser resolves them."""


@pytest.mark.skipif(_chromium() is None, reason="no chromium or chromium-browser on PATH (bash setup.sh --dev "
                                                 "installs it); the page is parsed without a browser above")
def test_hostile_names_stay_text_in_headless_chromium(hostile: tuple[dict, dict], tmp_path: Path) -> None:
    page = report_html.to_html(_render(*hostile)).replace("<head>", "<head>" + WATCH, 1)
    planted = page.replace("</body>", '<a href="javascript:alert(9)">p</a><script>alert(8)</script></body>', 1)

    def dom(html: str, name: str) -> str:
        path = tmp_path / name
        path.write_text(html)
        done = subprocess.run([str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu",
                               "--virtual-time-budget=10000", "--dump-dom", path.as_uri()],
                              capture_output=True, text=True, timeout=120, check=True)
        return done.stdout

    shown, control = dom(page, "hostile.html"), dom(planted, "planted.html")
    assert 'data-alerts="0"' in shown and 'data-bad-links="0"' in shown and 'data-shown="true"' in shown, shown[-600:]
    assert not re.search(r'data-links="0"', shown)  # the page's own links were looked at
    assert 'data-alerts="0"' not in control and 'data-bad-links="1"' in control  # the check can fail
