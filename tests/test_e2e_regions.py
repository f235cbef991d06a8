"""A provider draws the treated area on the baseline with the mouse, in a real Chromium against the app as
`tracker app` serves it (see test_e2e.py); every photo is then measured again in the new region."""

from __future__ import annotations

import pytest

from test_e2e import (  # noqa: F401 (fixtures)
    WAIT,
    app,
    browser,
    chromium,
    follow_address,
    page,
    settle,
    shot,
    shown,
    sign_in,
)

pytestmark = pytest.mark.browser

#: Where the boxes are dragged, as fractions of the photo's width and height: left, top, right, bottom.
#: Ben's baseline is 900 x 1200 pixels; his treated area is 504,495,90,81 and his control 297,680,90,50.
TREATED = (0.50, 0.38, 0.68, 0.50)  # 450,456,162,144
CONTROL = (0.34, 0.53, 0.46, 0.60)  # 306,636,108,84


def _ben_course(data_dir):
    from tracker import services as sv
    from tracker.store.db import open_store

    store = open_store(data_dir)
    try:
        return sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "demo-ben")).courses[0]
    finally:
        store.close()


def _redness_by_photo(course) -> dict[int, float | None]:
    return {pt.photo_id: pt.result.metric("redness_a") for pt in course.progress.points}


def _in_baseline_pixels(fractions, size) -> tuple[float, ...]:
    (left, top, right, bottom), (width, height) = fractions, size
    return left * width, top * height, (right - left) * width, (bottom - top) * height


def _drag_box(page, fractions) -> dict:
    """Drag a box over the baseline with the mouse, from its top-left to its bottom-right corner.

    The plot area is the photo (its axes are constrained to the photo's aspect). Returns the
    plot area's place on the screen.
    """
    plot = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
    shown(page, plot)
    plot.scroll_into_view_if_needed()
    settle(page)
    area = plot.bounding_box()
    left, top, right, bottom = fractions
    start = (area["x"] + left * area["width"], area["y"] + top * area["height"])
    end = (area["x"] + right * area["width"], area["y"] + bottom * area["height"])
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=8)
    page.mouse.move(*end, steps=8)
    page.mouse.up()
    return area


def _draw_and_save(page, shot, fractions, name: str) -> dict:
    """Drag a box, mark it as the ``name`` region, check the preview and save; returns the plot area's place."""
    from playwright.sync_api import expect

    area = _drag_box(page, fractions)
    page.get_by_role("radiogroup", name="The box marks").get_by_text(name, exact=True).click()
    save = shown(page, page.get_by_role("button", name=f"Save the {name.lower()} and re-analyse"))
    expect(page.get_by_text(f"Preview: {name.lower()}")).to_be_visible()
    shot(f"{name.lower().replace(' ', '_')}_drawn")
    save.click()
    settle(page)
    return area


def _off_by(box, expected) -> float:
    return max(abs(a - b) for a, b in zip(box, expected))


def test_provider_draws_the_treated_area_and_the_control_on_the_baseline(app, page, shot):
    from playwright.sync_api import expect

    before = _ben_course(app.data_dir)
    treated, control = (_in_baseline_pixels(f, before.baseline_size) for f in (TREATED, CONTROL))
    assert _off_by(before.roi, treated) > 40 and _off_by(before.control, control) > 40  # the boxes move the regions

    sign_in(page, "dr.rivera", app.passwords["dr.rivera"], "Patients", url=app.base_url)
    follow_address(page, "patient_detail")  # opens the first patient of the list: Ben, the slow one
    shown(page, page.get_by_role("heading", name=app.ben["name"], exact=True))
    page.get_by_role("tab", name="Regions").click()
    shot("regions_tab")

    area = _draw_and_save(page, shot, TREATED, "Treated area")
    after = _ben_course(app.data_dir)
    # Three pixels of the mouse, in baseline pixels: the mouse lands on whole screen pixels.
    tolerance = 3 * before.baseline_size[0] / area["width"]
    assert _off_by(after.roi, treated) <= tolerance, (after.roi, treated, tolerance)
    assert after.control == before.control  # the control is left as it was
    # Every photo was measured again, in the drawn region: each measured value changed.
    redness_before, redness_after = _redness_by_photo(before), _redness_by_photo(after)
    assert redness_after.keys() == redness_before.keys()
    measured = [p for p in redness_before if redness_before[p] is not None]
    assert measured and all(redness_after[p] is not None and redness_after[p] != redness_before[p]
                            for p in measured)

    # The next box, marked as the control, moves the control only.
    page.get_by_role("tab", name="Regions").click()
    _draw_and_save(page, shot, CONTROL, "Untreated control")
    last = _ben_course(app.data_dir)
    assert _off_by(last.control, control) <= tolerance, (last.control, control, tolerance)
    assert last.roi == after.roi

    # The numbers, for precision, are the drawn boxes'.
    page.get_by_role("tab", name="Regions").click()
    page.get_by_text("Type the regions as numbers, for precision").click()
    for label, box in (("Treated area", last.roi), ("Untreated control", last.control)):
        expect(page.get_by_role("textbox", name=label, exact=True)).to_have_value(",".join(map(str, box)))
    shot("saved")
