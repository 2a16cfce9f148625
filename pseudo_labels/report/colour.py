"""Colour arithmetic for legibility: WCAG contrast ratio, CIEDE2000 differences, colour-vision-deficiency simulation.

Pure functions of sRGB triples (0..255). The report uses them to pick
readable text on coloured cells, and the tests to hold the palettes to their
promises: text contrast of at least 4.5:1 (WCAG 2.1 AA) and error colours that
stay apart for people with and without colour-vision deficiencies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

OKABE_ITO = {
    "black": (0, 0, 0), "orange": (230, 159, 0), "sky blue": (86, 180, 233), "bluish green": (0, 158, 115),
    "yellow": (240, 228, 66), "blue": (0, 114, 178), "vermillion": (213, 94, 0), "reddish purple": (204, 121, 167),
}
"""The Okabe-Ito palette (Okabe and Ito, "Color Universal Design", 2008): distinguishable with the common CVDs."""

MIN_TEXT_CONTRAST = 4.5
"""WCAG 2.1 AA for normal text."""

# Machado, Oliveira and Fernandes (2009), severity 1.0, applied to linear RGB.
_CVD = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}
CVD_KINDS = tuple(_CVD)


def hex_rgb(value: str) -> tuple[int, int, int]:
    """``#rrggbb`` or ``#rgb`` -> (r, g, b)."""
    value = value.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _linear(rgb: Sequence[float] | np.ndarray) -> np.ndarray:
    c = np.asarray(rgb, np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _encoded(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055) * 255.0


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG relative luminance of an sRGB colour, 0 (black) .. 1 (white)."""
    return float(_linear(rgb) @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """WCAG contrast ratio of two colours, 1 .. 21."""
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable_text(background: Sequence[float]) -> str:
    """"black" or "white", whichever contrasts more with ``background``."""
    return "black" if contrast_ratio(background, (0, 0, 0)) >= contrast_ratio(background, (255, 255, 255)) else "white"


def simulate_cvd(rgb: Sequence[float], kind: str) -> tuple[float, float, float]:
    """How ``rgb`` looks with full protanopia, deuteranopia or tritanopia (Machado et al. 2009)."""
    out = _encoded(_CVD[kind] @ _linear(rgb))
    return float(out[0]), float(out[1]), float(out[2])


def mix(a: Sequence[float], b: Sequence[float], share_of_b: float) -> tuple[float, float, float]:
    """The average colour of an area where ``share_of_b`` of the pixels are ``b`` and the rest ``a`` (in linear light)."""
    out = _encoded(_linear(a) * (1 - share_of_b) + _linear(b) * share_of_b)
    return float(out[0]), float(out[1]), float(out[2])


def lab(rgb: Sequence[float]) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB colour."""
    xyz = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                    [0.0193339, 0.1191920, 0.9503041]]) @ _linear(rgb)
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def ciede2000(rgb1: Sequence[float], rgb2: Sequence[float]) -> float:
    """CIEDE2000 colour difference of two sRGB colours; about 2.3 is just noticeable."""
    return ciede2000_lab(lab(rgb1), lab(rgb2))


def ciede2000_lab(lab1: Sequence[float], lab2: Sequence[float]) -> float:
    """CIEDE2000 difference of two L*a*b* colours (Sharma, Wu and Dalal 2005, kL = kC = kH = 1)."""
    l1, a1, b1 = (float(v) for v in lab1)
    l2, a2, b2 = (float(v) for v in lab2)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25 ** 7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360 if c2p else 0.0
    dlp, dcp = l2 - l1, c2p - c1p
    if c1p * c2p == 0:
        dhp = 0.0
    elif abs(h2p - h1p) <= 180:
        dhp = h2p - h1p
    else:
        dhp = h2p - h1p - 360 if h2p > h1p else h2p - h1p + 360
    dhp_big = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dhp / 2))
    lp_bar, cp_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hp_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hp_bar = (h1p + h2p) / 2
    else:
        hp_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (1 - 0.17 * np.cos(np.radians(hp_bar - 30)) + 0.24 * np.cos(np.radians(2 * hp_bar))
         + 0.32 * np.cos(np.radians(3 * hp_bar + 6)) - 0.20 * np.cos(np.radians(4 * hp_bar - 63)))
    d_theta = 30 * np.exp(-(((hp_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_bar ** 7 / (cp_bar ** 7 + 25 ** 7))
    s_l = 1 + 0.015 * (lp_bar - 50) ** 2 / np.sqrt(20 + (lp_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return float(np.sqrt((dlp / s_l) ** 2 + (dcp / s_c) ** 2 + (dhp_big / s_h) ** 2
                         + r_t * (dcp / s_c) * (dhp_big / s_h)))
