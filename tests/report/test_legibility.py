"""Legibility promises: the colour arithmetic itself, error colours apart for every reader, HTML text contrast.

Thresholds, in CIEDE2000 (about 2.3 is a just-noticeable difference, above 10
two colours read as different colours): raw status colours at least 20 apart
for normal vision and 15 under simulated protanopia and deuteranopia (the
common deficiencies, about 1 in 12 men); the colours as drawn (fills over the
dimmed image, and those fills under a missed object's hatching) at least 15
and 10 apart. Tritanopia (about 1 in 10,000) is held to 10 and 5.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from pseudo_labels.evaluation import segment_errors as se
from pseudo_labels.report import colour, drawing, figures
from pseudo_labels.report import html as report_html

LIMITS = {None: (20.0, 15.0), "protanopia": (15.0, 10.0), "deuteranopia": (15.0, 10.0), "tritanopia": (10.0, 5.0)}
"""(raw colours, colours as drawn) minimum CIEDE2000 per kind of vision."""
DIMMED_GREY = (70, 70, 70)
"""A typical pixel of the dimmed image under the error panels (mid-grey at drawing.dimmed's factor 0.55)."""


def test_ciede2000_and_contrast_match_published_values() -> None:
    pairs = [((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),  # Sharma, Wu and Dalal (2005), pairs 1, 7, 17, 25
             ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
             ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
             ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644)]
    for lab1, lab2, expected in pairs:
        assert colour.ciede2000_lab(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert colour.contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert colour.contrast_ratio((118, 118, 118), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)  # WCAG's #767676
    assert colour.simulate_cvd((128, 128, 128), "deuteranopia") == pytest.approx((128, 128, 128), abs=1.0)  # greys stay
    assert colour.readable_text((253, 231, 37)) == "black" and colour.readable_text((68, 1, 84)) == "white"


def _drawn_colours() -> dict[str, tuple[float, float, float]]:
    """Each status as a fill over the dimmed image, and each prediction status under the FN hatching (area mean)."""
    base = np.full((1, 1, 3), DIMMED_GREY, np.uint8)
    drawn = {}
    for status, rgb in drawing.STATUS_COLOURS.items():
        drawn[str(status)] = tuple(
            float(v) for v in drawing.blend(base, np.array(rgb), np.ones((1, 1), bool), drawing.FILL_ALPHA)[0, 0])
    share = drawing.hatch((64, 64)).mean()  # the share of hatch pixels
    fn = drawing.STATUS_COLOURS[se.FN]
    for status in (se.TP, se.FP, se.SPLIT, se.MERGE):
        drawn[f"{status} under FN hatching"] = colour.mix(drawn[str(status)], fn, share)
    return drawn


@pytest.mark.parametrize("vision", list(LIMITS))
def test_status_colours_stay_apart(vision: str | None) -> None:
    def seen(rgb: tuple) -> tuple:
        return rgb if vision is None else colour.simulate_cvd(rgb, vision)

    raw_limit, drawn_limit = LIMITS[vision]
    statuses = drawing.STATUS_COLOURS
    for a, b in itertools.combinations(statuses, 2):
        difference = colour.ciede2000(seen(statuses[a]), seen(statuses[b]))
        assert difference >= raw_limit, (vision, drawing.STATUS_MEANING[a], drawing.STATUS_MEANING[b], difference)
    drawn = _drawn_colours()
    for a, b in itertools.combinations(drawn, 2):
        if a.split(" ")[0] == b.split(" ")[0]:
            continue  # the same status with and without hatching on top
        difference = colour.ciede2000(seen(drawn[a]), seen(drawn[b]))
        assert difference >= drawn_limit, (vision, a, b, difference)


def test_the_old_palette_would_fail() -> None:
    """The check can fail: yellow FP under red hatching looked like the orange of a split (fills at 0.6 then)."""
    yellow, red, orange = (255, 220, 0), (230, 30, 30), (255, 130, 0)
    base = np.full((1, 1, 3), DIMMED_GREY, np.uint8)
    fill = [tuple(float(v) for v in drawing.blend(base, np.array(c), np.ones((1, 1), bool), 0.6)[0, 0])
            for c in (yellow, orange)]
    hatched = colour.mix(fill[0], red, drawing.hatch((64, 64)).mean())
    assert colour.ciede2000(hatched, fill[1]) < LIMITS[None][1]


def _rules(css: str) -> list[tuple[str, dict[str, str]]]:
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        declarations = dict((k.strip(), v.strip()) for k, v in (d.split(":", 1) for d in body.split(";") if ":" in d))
        for selector in selectors.split(","):
            rules.append((selector.strip(), declarations))
    return rules


def test_html_text_contrast_of_every_colour_pair() -> None:
    pairs = {}
    for selector, declarations in _rules(report_html.STYLE):
        if "color" in declarations or "background" in declarations or "background-color" in declarations:
            assert "color" in declarations and "background" in declarations, selector  # both or neither
            pairs[selector] = (declarations["color"], declarations["background"])
    assert pairs == dict(report_html.TEXT_COLOURS)  # every colour of the stylesheet is in the checked table
    for selector, (text, background) in pairs.items():
        ratio = colour.contrast_ratio(colour.hex_rgb(text), colour.hex_rgb(background))
        assert ratio >= colour.MIN_TEXT_CONTRAST, (selector, text, background, ratio)
    for inner in ("code", "a"):  # what inline() can put inside the banner has its own pair on the banner's red
        assert f".banner {inner}" in pairs
    assert colour.contrast_ratio((255, 255, 255), colour.hex_rgb("#f3f3f3")) < 1.2  # the old white-on-near-white code


def test_heatmap_text_contrast_on_viridis() -> None:
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    for value in np.linspace(0, 1, 21):
        background = tuple(255 * c for c in cmap(value)[:3])
        text = (0, 0, 0) if colour.readable_text(background) == "black" else (255, 255, 255)
        assert colour.contrast_ratio(text, background) >= colour.MIN_TEXT_CONTRAST
    assert all(figures.PROTOCOL_COLOURS[p] in colour.OKABE_ITO.values() for p in figures.PROTOCOL_COLOURS)
