"""Compare two (vibegen/compare.py and its dialog): which two, labels, shape, pictures, HTML."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.test_app import _app, _finished_run
from tests.test_viewer import _blind_page  # the run's grid of View buttons, blind
from vibegen.compare import (
    BLIND_SIDE,
    SCREEN_SIDE,
    box,
    choice_label,
    choices,
    compare_html,
    label_lines,
    pick,
    picture_uri,
    sides,
)
from vibegen.errors import InputError
from vibegen.images import fit
from vibegen.records import Status


def _png(w: int, h: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _decoded(uri: str) -> Image.Image:
    head, data = uri.split(",", 1)
    assert head.startswith("data:image/") and head.endswith(";base64")
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_pick_takes_two_different_finished_images(store):
    cells = store.run_view(_finished_run(store)).cells
    assert pick(cells, 0, 2) == (cells[0], cells[2])
    with pytest.raises(InputError, match="two different"):
        pick(cells, 1, 1)
    with pytest.raises(InputError, match="no longer"):
        pick(cells, 0, 7)
    cells[1].status = Status.ERROR
    with pytest.raises(InputError, match="finished"):
        pick(cells, 0, 1)
    assert choices(cells, 0) == [2]  # neither itself nor a failed cell is offered


def test_choices_are_named_and_blind_only_numbered(store):
    cells = store.run_view(_finished_run(store)).cells
    assert choice_label(cells, 2, blind=False) == "Image 3 · Model 2"
    assert choice_label(cells, 2, blind=True) == "Image 3"


def test_a_named_side_says_model_router_time_and_cost_with_where_it_came_from(store):
    cells = store.run_view(_finished_run(store)).cells
    lines = label_lines(cells[0])
    assert lines[0] == "Router: sandbox (simulated) · 1024×1024"
    assert lines[1] == "⏱️ 1.0 s · 💲 $0.0100 · simulated (sandbox)"
    assert lines[2] == "Cost from: no provenance recorded"  # said, never left out
    cells[0].cost_basis, cells[0].cost_source = "catalog price × 1 image", "fal.ai pricing page"
    assert label_lines(cells[0])[2] == (
        "Cost from: catalog price × 1 image · price source: fal.ai pricing page"
    )


def test_blind_sides_are_just_a_and_b(store):
    cells = store.run_view(_finished_run(store)).cells
    data = store.image(cells[0].id)
    assert data is not None
    a, b = sides(cells[0], data, cells[1], data, blind=True)
    assert (a.title, a.lines, a.alt, b.title, b.lines) == ("A", (), "image A", "B", ())
    page = compare_html([a, b], box(cells[0], cells[1], blind=True))
    for named in ("Model 0", "Model 1", "sandbox", "simulated", "⏱️", "💲", "Cost"):
        assert named not in page, named
    assert _decoded(a.uri).size == (BLIND_SIDE, BLIND_SIDE)  # squared, as in the blind grid


def test_both_are_drawn_in_one_shape_theirs_when_shared_else_square(store):
    same = store.run_view(_finished_run(store, ((1536, 1024),) * 2)).cells
    assert box(same[0], same[1], blind=False) == (1536, 1024)
    assert box(same[0], same[1], blind=True) == (1, 1)
    mixed = store.run_view(_finished_run(store, ((1536, 1024), (1024, 1536)))).cells
    assert box(mixed[0], mixed[1], blind=False) == (1, 1)
    page = compare_html(sides(mixed[0], _png(8, 8), mixed[1], _png(8, 8), False), (1536, 1024))
    assert "aspect-ratio: 1.500000" in page


def test_pictures_are_sent_at_a_screen_size():
    small = _png(640, 480)
    assert fit(small, SCREEN_SIDE) == (small, "image/png")  # kept byte for byte
    assert _decoded(picture_uri(small, blind=False)).size == (640, 480)
    big = _decoded(picture_uri(_png(3072, 2048), blind=False))
    assert big.format == "JPEG" and big.size == (SCREEN_SIDE, 1024)


def test_the_view_is_self_contained_and_names_its_pictures(store):
    cells = store.run_view(_finished_run(store)).cells
    pair = sides(cells[0], _png(8, 8), cells[1], _png(9, 9), blind=False)
    page = compare_html(pair, (1, 1))
    assert "A · Model 0" in page and "B · Model 1" in page
    assert "Router: sandbox (simulated) · 1024×1024" in page
    # No address to fetch: the pictures are data: URIs, and nothing else is loaded.
    assert not re.search(r"(src|href)=\"(?!data:)", page)
    assert "http://" not in page and "https://" not in page
    # Both pictures once each (the overlay copies them in the browser).
    assert page.count(pair[0].uri) == 1 and page.count(pair[1].uri) == 1
    # The same pair drawn again is the same view (zoom and pan kept); another pair is not.
    assert compare_html(pair, (1, 1)) == page
    assert compare_html(pair[::-1], (1, 1)) != page


def _open_compare(at: AppTest, place: int, other: int) -> AppTest:
    at.button(key=f"view-{place}").click().run()
    at.selectbox(key="compare_with").set_value(other).run()
    at.button(key="viewer-compare").click().run()
    return at


def _compare_body(at: AppTest) -> str:
    bodies = [h.proto.body for h in at.get("html") if "vgc-pane" in h.proto.body]
    assert len(bodies) == 1, len(bodies)
    return bodies[0]


def test_compare_with_in_the_viewer_opens_the_two_side_by_side(store):
    run_id = _finished_run(store)
    at = _open_compare(_app(run=run_id).run(), 0, 2)
    assert not at.exception
    assert not any(b.key == "viewer-next" for b in at.button)  # the viewer stepped aside
    body = _compare_body(at)
    assert body.index("A · Model 0") < body.index("B · Model 2")
    at.button(key="compare-swap").click().run()
    body = _compare_body(at)
    assert body.index("A · Model 2") < body.index("B · Model 0")
    at.run()  # any other rerun keeps it open
    assert "A · Model 2" in _compare_body(at)


def test_blind_compare_names_nothing(store):
    run_id = _finished_run(store)
    at = AppTest.from_function(_blind_page, default_timeout=30)
    at.query_params["run"] = run_id
    at.run()
    at.button(key="view-1").click().run()
    assert at.selectbox(key="compare_with").options == ["Image 1", "Image 3"]
    _open_compare(at, 1, 2)
    assert not at.exception
    page = _compare_body(at) + "".join(b.key or "" for b in at.button)
    cells = store.run_view(run_id).cells
    for named in (*(c.label for c in cells), *(c.id for c in cells), "sandbox", "Cost", "⏱️"):
        assert named not in page, named
    assert ">A<" in page and ">B<" in page
