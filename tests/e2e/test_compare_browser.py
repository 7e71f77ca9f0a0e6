"""At 1440×900 in Chromium: two images of a run compared side by side, zoom and pan synced,
and stacked with an overlay slider; Esc closes."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import (
    generate,
    progress_text,
    wait_for_app,
    wait_for_images,
    wait_until,
)

DESIGNER = {"width": 1440, "height": 900}
MODELS = ("Prism", "Halo", "Tide")
DIALOG = "[role=dialog]"
SIDE_IMGS = f"{DIALOG} .vgc-row .vgc-img"


def _transforms(page) -> list[str]:
    """The transform of each side-by-side picture, A then B."""
    return page.eval_on_selector_all(SIDE_IMGS, "els => els.map(e => e.style.transform)")


def _scale(transform: str) -> float:
    found = re.search(r"scale\(([\d.]+)\)", transform)
    assert found, transform
    return float(found.group(1))


def _clip(page) -> str:
    return page.eval_on_selector(f"{DIALOG} .vgc-top", "e => e.style.clipPath")


def _open_compare(page, second: str | None = None):
    """Pick A (a click on the first picture opens the viewer), then B ("Compare with"), then
    Compare; return the dialog once both pictures are loaded."""
    page.locator("[data-testid=stGridCell] [data-testid=stImage] img").first.click()
    dialog = page.locator(DIALOG)
    dialog.get_by_text("Compare with").wait_for()
    if second:
        dialog.locator("[data-testid=stSelectbox]").click()
        page.get_by_role("option", name=second).click()
    dialog.get_by_role("button", name="Compare ⇆").click()
    page.wait_for_function(
        """sel => { const imgs = document.querySelectorAll(sel);
                    return imgs.length === 2
                      && Array.from(imgs).every(i => i.complete && i.naturalWidth > 0); }""",
        arg=SIDE_IMGS,
    )
    return dialog


def _inside(box: dict, width: int, height: int) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= width
        and box["y"] + box["height"] <= height
    )


@pytest.mark.browser
def test_two_images_compare_side_by_side_with_synced_zoom_pan_and_an_overlay(
    start_server, chromium
):
    context = chromium.new_context(viewport=DESIGNER)
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        page.goto(start_server(VIBEGEN_SANDBOX_SPEED="0.01").url)
        wait_for_app(page)
        generate(page, "a lighthouse at dusk", MODELS)
        wait_for_images(page, len(MODELS))

        dialog = _open_compare(page, "Image 3 · Tide")
        row = dialog.locator(".vgc-row")
        assert row.get_by_text("A · Prism").is_visible()
        assert row.get_by_text("B · Tide").is_visible()
        assert dialog.get_by_text("Router: sandbox (simulated) · 1024×1024").count() == 2
        priced = re.compile(r"^⏱️ [\d.]+ s · 💲 \$0\.\d{4} · simulated")
        assert dialog.get_by_text(priced).count() == 2
        assert dialog.get_by_text(re.compile(r"^Cost from: ")).count() == 2

        # Side by side, one scale, both wholly in the 1440×900 window.
        a, b = (dialog.locator(".vgc-row .vgc-pane").nth(i).bounding_box() for i in (0, 1))
        assert a and b
        assert _inside(a, 1440, 900) and _inside(b, 1440, 900), (a, b)
        assert a["x"] + a["width"] <= b["x"] and abs(a["y"] - b["y"]) < 1, (a, b)
        assert abs(a["width"] - b["width"]) < 1 and abs(a["height"] - b["height"]) < 1
        assert a["width"] > 500, a  # large: far bigger than a grid cell
        swap = dialog.get_by_role("button", name="Swap A and B").bounding_box()
        assert swap and _inside(swap, 1440, 900), swap  # labels and all, on one screen
        page.screenshot(path="/tmp/compare.png")

        # The wheel over A zooms B the same way.
        before = _transforms(page)
        page.mouse.move(a["x"] + a["width"] * 0.3, a["y"] + a["height"] * 0.3)
        page.mouse.wheel(0, -400)
        page.wait_for_function(
            "sel => document.querySelector(sel).style.transform.indexOf('scale(1)') < 0",
            arg=SIDE_IMGS,
        )
        zoomed = _transforms(page)
        assert zoomed[0] == zoomed[1] != before[0], (before, zoomed)
        assert _scale(zoomed[1]) > 1.5
        # The + button on the toolbar, and a drag on B: A follows.
        dialog.get_by_role("button", name="Zoom in").click()
        plus = _transforms(page)
        assert plus[0] == plus[1] and _scale(plus[0]) > _scale(zoomed[0])
        page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
        page.mouse.down()
        page.mouse.move(b["x"] + b["width"] / 2 + 120, b["y"] + b["height"] / 2 + 60, steps=6)
        page.mouse.up()
        panned = _transforms(page)
        assert panned[0] == panned[1] != plus[0], (plus, panned)
        assert dialog.locator(".vgc-zoom").inner_text() == f"{round(_scale(panned[0]) * 100)}%"
        page.screenshot(path="/tmp/compare-zoomed.png")

        # Overlay: A and B stacked; dragging the slider's handle moves where B begins.
        dialog.get_by_role("button", name="Overlay").click()
        stack = dialog.locator(".vgc-stack")
        stack.wait_for()
        box = stack.bounding_box()
        assert box and _inside(box, 1440, 900), box
        assert _clip(page) == "inset(0px 0px 0px 50%)"
        dialog.get_by_role("button", name="Fit").click()
        handle = dialog.locator(".vgc-handle").bounding_box()
        assert handle
        page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
        clip = _clip(page)
        reveal = float(re.search(r"([\d.]+)%\)$", clip).group(1))  # type: ignore[union-attr]
        assert 22 < reveal < 28, clip
        page.screenshot(path="/tmp/compare-overlay.png")

        page.keyboard.press("Escape")
        dialog.wait_for(state="detached")
        page.wait_for_timeout(1500)  # and it stays closed
        assert dialog.count() == 0
    except Exception:
        page.screenshot(path="/tmp/compare-fail.png")
        raise
    finally:
        context.close()


@pytest.mark.browser
def test_a_compare_opened_while_the_run_goes_on_keeps_its_zoom_as_images_arrive(
    start_server, chromium
):
    context = chromium.new_context(viewport=DESIGNER)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        # Real sandbox latencies: Prism and Halo in about a second, Lattice in about seven.
        page.goto(start_server(VIBEGEN_SANDBOX_SPEED="1").url)
        wait_for_app(page)
        generate(page, "a lighthouse at dusk", ("Prism", "Halo", "Lattice (slow)"))
        wait_for_images(page, 2)
        assert "generating" in progress_text(page)
        dialog = _open_compare(page)  # Halo, the one other image so far
        assert dialog.locator(".vgc-row").get_by_text("B · Halo").is_visible()
        dialog.get_by_role("button", name="Zoom in").click()
        dialog.get_by_role("button", name="Overlay").click()
        zoomed = _transforms(page)
        assert _scale(zoomed[0]) > 1
        # The grid behind keeps refreshing until Lattice lands and the run completes.
        wait_until(lambda: "3 of 3 done" in progress_text(page), timeout=30, what="run done")
        page.wait_for_timeout(1500)  # the full rerun that follows completion
        assert dialog.locator(".vgc-stack").is_visible()  # still open, still overlaid
        assert _transforms(page) == zoomed
    except Exception:
        page.screenshot(path="/tmp/compare-fail.png")
        raise
    finally:
        context.close()
