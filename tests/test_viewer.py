"""The image viewer (vibegen/ui/viewer.py), driven with AppTest: its fields, stepping, blind."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.test_app import ROOT, _app, _finished_run


def _texts(at: AppTest) -> str:
    """Every text the page shows, joined (markdown, captions, text, code, subheaders)."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += (
        [t.value for t in at.text] + [c.value for c in at.code] + [h.value for h in at.subheader]
    )
    return "\n".join(parts)


def test_a_cell_opens_the_viewer_with_what_made_it(store):
    run_id = _finished_run(store)
    at = _app(run=run_id).run()
    assert not any(b.key == "viewer-next" for b in at.button)  # closed until a cell is clicked
    at.button(key="view-1").click().run()
    assert not at.exception
    assert at.subheader[-1].value == "Model 1 · sandbox (simulated)"
    shown = _texts(at)
    for field in ("Image 2 of 3", "**Router:** sandbox", "**Time:** ⏱️ 1\\.0 s", "**Seed:**"):
        assert field in shown, field
    assert "**Cost:** \\$0\\.0100 · simulated" in shown
    assert "a lighthouse at dusk" in [t.value for t in at.text]  # the prompt, literally
    assert "Download" in [d.label for d in at.get("download_button")]
    assert len(at.image) == 4  # the three previews and the viewer's image


def test_previous_and_next_step_through_the_run_and_wrap_round(store):
    run_id = _finished_run(store)
    at = _app(run=run_id).run()
    at.button(key="view-0").click().run()
    assert "Image 1 of 3" in _texts(at)
    next_, prev = at.button(key="viewer-next"), at.button(key="viewer-prev")
    assert next_.proto.shortcut and prev.proto.shortcut  # → and ← on the keyboard
    at.button(key="viewer-next").click().run()
    assert at.subheader[-1].value.startswith("Model 1")
    at.button(key="viewer-next").click().run()
    at.button(key="viewer-next").click().run()
    assert at.subheader[-1].value.startswith("Model 0") and "Image 1 of 3" in _texts(at)
    at.button(key="viewer-prev").click().run()
    assert at.subheader[-1].value.startswith("Model 2") and "Image 3 of 3" in _texts(at)
    at.run()  # any other rerun keeps it open where it was
    assert at.subheader[-1].value.startswith("Model 2")


def _blind_page() -> None:
    import streamlit as st

    from vibegen.settings import load_settings
    from vibegen.store import Store
    from vibegen.ui.viewer import view_button, viewer

    store = Store.open(load_settings().store_url)
    cells = store.run_view(st.query_params["run"]).cells
    for i, cell in enumerate(cells):
        if cell.ok:
            view_button(i)
    viewer(store, cells, blind=True)


def test_the_blind_viewer_shows_the_image_and_nothing_that_names_it(store):
    run_id = _finished_run(store)
    at = AppTest.from_function(_blind_page, default_timeout=30)
    at.query_params["run"] = run_id
    at.run()
    at.button(key="view-2").click().run()
    assert not at.exception
    assert len(at.image) == 1 and "Image 3 of 3" in _texts(at)
    assert "Download" in [d.label for d in at.get("download_button")]
    cell = store.run_view(run_id).cells[2]
    page = _texts(at) + "".join(str(e.proto) for e in at.get("download_button"))
    page += "".join(str(i.proto) for i in at.image) + "".join(b.key or "" for b in at.button)
    for named in (cell.label, cell.model_key, "sandbox", "simulated", "Seed", "Cost", "⏱️"):
        assert named not in page, named
    assert cell.id not in page and "a lighthouse at dusk" not in page
    assert at.image[0].proto.imgs[0].alt == "image 3"
    at.button(key="viewer-next").click().run()
    assert "Image 1 of 3" in _texts(at) and not at.subheader


def test_the_blind_review_grid_opens_a_squared_viewer_that_names_nothing(store):
    from vibegen import raters

    run_id = _finished_run(store)
    token = store.team.team_link(run_id, blind=True).token
    dana, _secret = store.team.join("Dana", raters.OWNER)
    at = AppTest.from_file(str(ROOT / "pages" / "2_Review.py"), default_timeout=30)
    at.query_params["link"] = token
    at.session_state["rater_id"] = dana.id  # Dana's browser
    at.run()
    assert not at.exception and len(at.image) >= 3
    at.button(key="view-0").click().run()
    assert not at.exception and "Image 1 of 3" in _texts(at)
    shown_text = _texts(at)
    for cell in store.run_view(run_id).cells:
        assert cell.label not in shown_text and cell.model_key not in shown_text
    assert not at.subheader
    shown = at.image[-1].proto.imgs[0]
    assert shown.alt == "image 1"
