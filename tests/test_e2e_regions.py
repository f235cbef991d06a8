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

#: Where the box is dragged, as fractions of the photo's width and height: left, top, right, bottom.
DRAGGED = (0.30, 0.35, 0.55, 0.62)


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


def test_provider_draws_the_treated_area_on_the_baseline(app, page, shot):
    from playwright.sync_api import expect

    before = _ben_course(app.data_dir)
    width, height = before.baseline_size
    left, top, right, bottom = DRAGGED
    expected = (left * width, top * height, (right - left) * width, (bottom - top) * height)
    assert before.roi is not None
    assert max(abs(a - b) for a, b in zip(before.roi, expected)) > 0.05 * width  # the box moves the region

    sign_in(page, "dr.rivera", app.passwords["dr.rivera"], "Patients", url=app.base_url)
    follow_address(page, "patient_detail")  # opens the first patient of the list: Ben, the slow one
    shown(page, page.get_by_role("heading", name=app.ben["name"], exact=True))
    page.get_by_role("tab", name="Regions").click()
    plot = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
    shown(page, plot)
    plot.scroll_into_view_if_needed()
    settle(page)
    shot("regions_tab")

    # The plot area is the photo (its axes are constrained to the photo's aspect): drag across it.
    area = plot.bounding_box()
    start = (area["x"] + left * area["width"], area["y"] + top * area["height"])
    end = (area["x"] + right * area["width"], area["y"] + bottom * area["height"])
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=8)
    page.mouse.move(*end, steps=8)
    page.mouse.up()
    save = shown(page, page.get_by_role("button", name="Save the treated area and re-analyse"))
    expect(page.get_by_role("radiogroup", name="The box marks")).to_be_visible()
    expect(page.get_by_text("Preview: treated area")).to_be_visible()
    shot("box_drawn")

    save.click()
    settle(page)
    shown(page, page.get_by_role("tab", name="Regions"))
    after = _ben_course(app.data_dir)
    # One pixel of the mouse, three times over, in baseline pixels: the mouse lands on whole screen pixels.
    tolerance = 3 * width / area["width"]
    assert after.roi is not None and len(after.roi) == 4
    assert max(abs(a - b) for a, b in zip(after.roi, expected)) <= tolerance, (after.roi, expected, tolerance)
    assert after.control == before.control  # the control is left as it was
    # Every photo was measured again, in the drawn region: each measured value changed.
    redness_before, redness_after = _redness_by_photo(before), _redness_by_photo(after)
    assert redness_after.keys() == redness_before.keys()
    measured = [p for p in redness_before if redness_before[p] is not None]
    assert measured and all(redness_after[p] is not None and redness_after[p] != redness_before[p]
                            for p in measured)

    # The numbers, for precision, are the drawn box's.
    page.get_by_role("tab", name="Regions").click()
    page.get_by_text("Type the regions as numbers, for precision").click()
    roi_field = page.get_by_role("textbox", name="Treated area", exact=True)
    expect(roi_field).to_have_value(",".join(map(str, after.roi)), timeout=WAIT)
    shot("saved")
