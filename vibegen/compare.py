"""Compare two: two images of a run side by side at one scale, synced zoom and pan, an overlay.

Pure (no Streamlit): which two cells, what each side is labelled, the shape both are drawn in,
the pictures as data: URIs, and the self-contained HTML of the view (vibegen/ui/compare.py puts
it in a dialog). The view is our own small template (templates/compare.html.j2, autoescaped),
not a component: the one maintained Streamlit component for a slider compare
(streamlit-image-comparison) loads JuxtaposeJS from a CDN, which an offline browser cannot
reach, and none offers zoom and pan synced across two images. So it needs no network at all.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vibegen.errors import InputError
from vibegen.images import fit, square
from vibegen.records import Cell

if TYPE_CHECKING:  # loaded on first use: the Generate page's first draw needs no templates
    import jinja2

# A blind image's square: large, as the named viewer's original is (the same as the viewer).
BLIND_SIDE = 1024
# The long side a named picture is sent at: sharp at 4× zoom in a ~640 px pane, and a data: URI
# of two such images stays a few megabytes at most.
SCREEN_SIDE = 1536
LETTERS = ("A", "B")


@dataclass(frozen=True)
class Side:
    """One side of the compare view: its letter, title, label lines and picture."""

    letter: str
    title: str  # the model's name; in blind review the letter alone
    lines: tuple[str, ...]  # router, size, time, cost, where the cost came from (none blind)
    alt: str
    uri: str  # the picture as a data: URI


def pick(cells: Sequence[Cell], a: int, b: int) -> tuple[Cell, Cell]:
    """The two cells at places `a` and `b`: InputError unless two different images."""
    if a == b:
        raise InputError("Pick two different images to compare.")
    if not (0 <= a < len(cells) and 0 <= b < len(cells)):
        raise InputError("One of the two images is no longer in this run.")
    first, second = cells[a], cells[b]
    if not (first.ok and second.ok):
        raise InputError("Only finished images can be compared.")
    return first, second


def choices(cells: Sequence[Cell], at: int) -> list[int]:
    """The places of the images `at` can be compared with: every other finished cell."""
    return [i for i, c in enumerate(cells) if c.ok and i != at]


def choice_label(cells: Sequence[Cell], place: int, blind: bool) -> str:
    """How a candidate second image is offered: 'Image 3 · Halo', or 'Image 3' when blind."""
    number = [i for i, c in enumerate(cells) if c.ok].index(place) + 1
    cell = cells[place]
    if blind:
        return f"Image {number}"
    return f"Image {number} · {cell.label}" + (f" #{cell.image_index + 1}" * bool(cell.image_index))


def time_text(cell: Cell) -> str:
    """'⏱️ 4.2 s (router: queue 0.3 s, inference 3.1 s)', or '⏱️ time unknown'."""
    text = f"⏱️ {cell.wall_s:.1f} s" if cell.wall_s is not None else "⏱️ time unknown"
    parts = [
        f"{name} {v:.1f} s"
        for name, v in (("queue", cell.queue_s), ("inference", cell.inference_s))
        if v is not None
    ]
    return text + (" (router: " + ", ".join(parts) + ")" if parts else "")


def router_text(cell: Cell) -> str:
    """The router's name, saying so when it only simulates."""
    return cell.router + (" (simulated)" if cell.simulated else "")


def label_lines(cell: Cell) -> tuple[str, ...]:
    """What a named side says below its picture, in the viewer's words."""
    size = f"{cell.width}×{cell.height}" if cell.width and cell.height else "size unknown"
    # Three short lines, so both pictures and their labels fit a 900 px high window.
    return (
        f"Router: {router_text(cell)} · {size}",
        f"{time_text(cell)} · 💲 {cell.cost.describe()}",
        f"Cost from: {cell.cost.provenance() or 'no provenance recorded'}",
    )


def box(first: Cell, second: Cell, blind: bool) -> tuple[int, int]:
    """The shape both pictures are drawn in: theirs when they share one, else a square.

    Both sides get the same box, so they are drawn at one scale and a zoom or pan means the
    same place in each; an image of another shape is letterboxed inside it.
    """
    if blind:  # blind pictures are squared (an aspect ratio a model always uses would name it)
        return 1, 1
    shapes = {(c.width, c.height) for c in (first, second)}
    w, h = shapes.pop() if len(shapes) == 1 else (None, None)
    return (w, h) if w and h else (1, 1)


def picture_uri(data: bytes, blind: bool) -> str:
    """The stored original as a data: URI at a size for the screen (squared when blind)."""
    if blind:
        # Squared as in the blind grid, which also leaves the original's metadata behind.
        shown, mime = square(data, side=BLIND_SIDE), "image/jpeg"
    else:
        shown, mime = fit(data, SCREEN_SIDE)
    return f"data:{mime};base64," + base64.b64encode(shown).decode("ascii")


def sides(first: Cell, a_data: bytes, second: Cell, b_data: bytes, blind: bool) -> list[Side]:
    """The two sides, A then B: named, or just 'A' and 'B' when blind."""
    out = []
    for letter, cell, data in zip(LETTERS, (first, second), (a_data, b_data), strict=True):
        title = letter if blind else f"{letter} · {cell.label}"
        lines = () if blind else label_lines(cell)
        alt = f"image {letter}" if blind else f"{letter}: {cell.label} image"
        out.append(Side(letter, title, lines, alt, picture_uri(data, blind)))
    return out


@functools.cache
def _templates() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("vibegen", "templates"),
        autoescape=True,  # model names and labels are untrusted text: never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def compare_html(pair: Sequence[Side], shape: tuple[int, int]) -> str:
    """The compare view: one self-contained HTML block (inline CSS and script, no URL)."""
    w, h = shape
    # The id names these two pictures, so the script binds to this view's elements, and a
    # redraw of the same pair (the grid refreshing, a rerun) keeps its zoom, pan and slider.
    digest = hashlib.blake2b(digest_size=6)
    for side in pair:
        digest.update(side.uri.encode("ascii"))
    return (
        _templates()
        .get_template("compare.html.j2")
        .render(sides=list(pair), ratio=f"{w / h:.6f}", view_id="vgc-" + digest.hexdigest())
    )
