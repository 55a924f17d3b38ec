"""Titles that fit their figure: matplotlib does not wrap a suptitle to the figure's width."""

from __future__ import annotations

import textwrap


def wrapped(text: str, width_in: float, fontsize: float = 9) -> str:
    """`text` with each of its lines broken to fit `width_in` inches at `fontsize` points (a
    character about 0.55 of the font size wide)."""
    chars = max(20, int(width_in * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in text.splitlines())
