"""Every page for every role through Streamlit's AppTest, on a real store with the demo patients.

What pages must show is read from the demo's sources, ``sample_images/manifest.csv`` and
``truth.csv``, not from the services the pages call. Tests that write use a copy of the demo
of their own, so the others see it as loaded. Paths given to AppTest are relative to this file.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from PIL import Image
from pypdf import PdfReader
from streamlit.testing.v1 import AppTest

from tracker import services as sv
from conftest import copy_data_dir, demo_passwords
from truth import MANIFEST, TRUTH, manifest_rows, photo_day, redness_tolerance, treated_on
from tracker.store.db import open_store
from tracker.web.markdown import literal

APP = "../app.py"
PAGES = {
    "patient": ["pages/my_progress.py", "pages/add_photos.py"],
    "provider": ["pages/patients.py", "pages/patient_detail.py"],
    "researcher": ["pages/cohort.py"],
    "admin": ["pages/admin.py"],
}
USERS = {"patient": "ana", "provider": "dr.rivera", "researcher": "researcher", "admin": "admin"}


@pytest.fixture(scope="module")
def demo(demo_dir):
    data_dir = demo_dir
    store = open_store(data_dir)
    passwords = demo_passwords(data_dir)
    mp = pytest.MonkeyPatch()
    mp.setenv("TRACKER_DATA_DIR", str(data_dir))
    mp.delenv("TRACKER_DATABASE_URL", raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield store, passwords
    mp.undo()
    st.cache_resource.clear()
    store.close()


@pytest.fixture
def own_demo(demo, demo_template, tmp_path, monkeypatch):
    """A copy of the demo for one test that writes, so the other tests see the demo as loaded."""
    data_dir = copy_data_dir(demo_template, tmp_path / "data")
    store = open_store(data_dir)
    monkeypatch.setenv("TRACKER_DATA_DIR", str(data_dir))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield store, demo_passwords(data_dir)
    st.cache_resource.clear()
    st.cache_data.clear()
    store.close()


def signed_in(demo, user: str) -> AppTest:
    store, passwords = demo
    token, _ = sv.sign_in(store, user, passwords[user])
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["token"] = token
    return at


def page_text(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "text", "info", "warning",
                                  "error", "success") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_sign_in_page_and_wrong_password(demo):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Healing-progress tracker"
    at.text_input(key="sign_in_user").input("ana")
    at.text_input(key="sign_in_password").input("not the password")
    at.button[0].click().run()
    assert sv.SIGN_IN_FAILED in [e.value for e in at.error]
    assert "token" not in at.session_state


def test_sign_in_leads_to_the_roles_first_page(demo):
    _, passwords = demo
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="sign_in_user").input("dr.rivera")
    at.text_input(key="sign_in_password").input(passwords["dr.rivera"])
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Patients"


def photos_of(reference: str) -> int:
    return len(manifest_rows(reference))


def charts(at: AppTest) -> list:
    return [*at.get("arrow_vega_lite_chart"), *at.get("vega_lite_chart")]


def sidebar_text(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.sidebar.markdown)


# What each page must show its role for the demo (sample_images/README.md: Ana's course is
# typical and on track, Ben's slow and for review; 8 and 9 photos), beside the page's title.
def check_my_progress(at: AppTest) -> None:
    assert [i.value for i in at.info][0] == "**On track**"  # Ana's status, in words
    assert [s.value for s in at.subheader] == ["Your next photo", "Latest photo and your first photo",
                                               "Redness over time", "Skin texture"]
    assert "not a diagnosis" in page_text(at)
    assert len(charts(at)) == 2  # redness against the band, texture
    assert len(at.get("image")) == 4  # first photo, latest aligned, overlay, redness map
    # Stepping through Ana's photos after treatment, the latest chosen.
    after = [r for r in manifest_rows("demo-ana") if photo_day(r) > 0]
    assert at.select_slider[0].options == [f"day {photo_day(r)} ({date.fromisoformat(r['taken_on']):%d %b})"
                                           for r in after]
    assert at.select_slider[0].value == len(after) - 1


def check_add_photos(at: AppTest) -> None:
    assert [s.value for s in at.subheader] == ["Framing guide"]
    assert len(at.get("image")) == 1  # the first photo with the regions, as the framing guide
    assert "About 20 cm from the skin" in page_text(at)
    assert at.selectbox[0].label == "Treated area"


def check_patients(at: AppTest) -> None:
    table = at.dataframe[0].value
    assert list(table["identifier"]) == ["demo-ben", "demo-ana"]  # most concerning first
    # In the provider's words: the rule that fired on Ben's course, with the day (his last photo's).
    last_day = photo_day(manifest_rows("demo-ben")[-1])
    assert list(table["status"]) == [f"needs review: redness beyond the outer limit on day {last_day}",
                                     "on track: redness fading within the expected band"]
    assert list(table["photo overdue"]) == [False, False]  # both demo courses are past their photo days
    assert list(table["photos"]) == [photos_of("demo-ben"), photos_of("demo-ana")]
    today = date.today()
    assert list(table["days since treatment"]) == [(today - treated_on("demo-ben")).days,
                                                   (today - treated_on("demo-ana")).days]
    assert "2 of 2 patients." in page_text(at)


def check_patient_detail(at: AppTest) -> None:
    # The first patient on the list opens: Ben, whose redness is slow.
    assert "Identifier demo-ben · skin type III" in page_text(at)
    last_day = photo_day(manifest_rows("demo-ben")[-1])
    assert [e.value for e in at.error] == [f"**needs review: redness beyond the outer limit on day {last_day}**"]
    assert "rule redness_beyond_outer_limit" in page_text(at)  # the provider's reasons, with rules
    # Ben's photos stop at day 28; the suggested days 90 and 180 went by without one.
    assert "Photos at the suggested days (the project's estimate): no more suggested days; missed" in page_text(at)
    assert "day 90 after treatment" in page_text(at) and "day 180 after treatment" in page_text(at)
    assert [m.label for m in at.metric] == ["Redness above before (Δa*)", "ITA°", "Melanin index", "Texture vs before"]
    figures = at.dataframe[0].value
    assert len(figures) == photos_of("demo-ben")
    assert list(figures["day"]) == [photo_day(r) for r in manifest_rows("demo-ben")]
    assert len(charts(at)) == 2
    assert at.text_input[0].value == manifest_rows("demo-ben")[0]["roi"]
    # Thumbnails, the aligned pair, the Δa* map, the photo chosen in the baseline tab; the regions are a
    # Plotly figure on which a box is drawn.
    assert len(at.get("image")) == min(photos_of("demo-ben"), 8) + 4
    assert len(at.get("plotly_chart")) == 1
    assert [b.label for b in at.button if b.label == "Prepare PDF report"]


def check_cohort(at: AppTest) -> None:
    assert f"{len(MANIFEST)} photos of {len({r['patient'] for r in MANIFEST})} patients." in page_text(at)
    assert "Every patient consented to research use; none was left out." in page_text(at)
    table = at.dataframe[0].value
    assert len(table) == len(MANIFEST) and table["patient_pseudonym"].nunique() == 2
    assert "demo-ana" not in table.astype(str).to_string()
    assert len(charts(at)) == 1
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download Parquet",
                                                             "Data dictionary (CSV)"]


def check_admin(at: AppTest) -> None:
    users, audit = (frame.value for frame in at.dataframe)
    assert set(users["username"]) >= {"admin", "dr.rivera", "researcher", "ana", "ben"}
    assert {"sign_in", "patient_view"} <= set(audit["action"])
    assert [t.label for t in at.tabs] == ["Accounts", "Assignments", "Consent and erasure", "Audit log"]
    assert not at.get("image")


PAGE_CHECKS = {  # page: (title, what it must show)
    "pages/my_progress.py": ("My progress", check_my_progress),
    "pages/add_photos.py": ("Add photos", check_add_photos),
    "pages/patients.py": ("Patients", check_patients),
    "pages/patient_detail.py": ("demo-ben", check_patient_detail),
    "pages/cohort.py": ("Cohort", check_cohort),
    "pages/admin.py": ("Administration", check_admin),
}


@pytest.mark.parametrize(("role", "page"), [(role, page) for role, pages in PAGES.items() for page in pages])
def test_every_page_of_every_role_shows_its_content(demo, role, page):
    if page == "pages/admin.py":  # a provider's view of a patient in the audit log, whatever ran before this
        store, passwords = demo
        _, provider = sv.sign_in(store, "dr.rivera", passwords["dr.rivera"])
        sv.get_patient(store, provider, sv.find_patient_id(store, sv.SYSTEM, "demo-ben"))
    at = signed_in(demo, USERS[role]).run()
    assert f"Signed in as **{USERS[role]}**" in sidebar_text(at)
    at.switch_page(page).run()
    assert not at.exception, (page, [e.value for e in at.exception])
    title, check = PAGE_CHECKS[page]
    assert [t.value for t in at.title] == [title]
    check(at)


def test_patient_progress_shows_status_reasons_and_charts(demo):
    at = signed_in(demo, "ben").run()
    assert at.title[0].value == "My progress"
    text = page_text(at)
    assert "Ask your provider to review" in text
    assert "not a diagnosis" in text
    assert len(at.get("arrow_vega_lite_chart")) >= 1 or len(at.get("vega_lite_chart")) >= 1
    assert "demo-ana" not in text


def test_patient_add_photo_is_checked_and_reported(own_demo):
    demo = own_demo
    store, _ = demo
    at = signed_in(demo, "ana").run()
    at.switch_page("pages/add_photos.py").run()
    assert not at.exception
    assert "Framing guide" in page_text(at)
    # The uploader cannot be driven from AppTest; the same service call the page makes is checked here,
    # and the browser test drives the real widget.
    token, actor = sv.sign_in(store, "ana", demo[1]["ana"])
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(buffer, "JPEG")
    outcome = sv.add_photo(store, actor, sv.get_patient(store, actor, actor.patient_id).courses[0].id,
                           buffer.getvalue())
    assert outcome.analysis.ok is False and outcome.analysis.error


def select_row(at: AppTest, row: int) -> AppTest:
    """Select a row of the patient list, as a click on it does in the browser."""
    at.session_state["patient_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


@pytest.mark.parametrize(("row", "reference"), [(0, "demo-ben"), (1, "demo-ana")])
def test_provider_list_opens_the_patient_of_the_selected_row(demo, row, reference):
    at = signed_in(demo, "dr.rivera").run()
    assert list(at.dataframe[0].value["identifier"]) == ["demo-ben", "demo-ana"]
    # No separate chooser and "Open" button: the row is the way in.
    assert not [b for b in at.button if b.label == "Open"]
    assert not [s for s in at.selectbox if s.label == "Open a patient"]
    select_row(at, row)
    assert not at.exception
    assert [t.value for t in at.title] == [reference]
    assert at.session_state["patient_id"] == sv.find_patient_id(demo[0], sv.SYSTEM, reference)
    # Back on the list, the earlier click does not open the patient again.
    at.switch_page("pages/patients.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Patients"]


def test_provider_filters_by_status(demo):
    at = signed_in(demo, "dr.rivera").run()
    status = next(m for m in at.multiselect if m.label == "Status")
    status.select("on_track").run()
    table = at.dataframe[0].value
    assert list(table["identifier"]) == ["demo-ana"]


def test_provider_filters_and_sorts_by_photo_overdue(own_demo):
    store, _ = own_demo
    # A second session for Ben ten days ago: his day-7 photo after it was due three days ago, none since.
    ben = sv.find_patient_id(store, sv.SYSTEM, "demo-ben")
    _, provider = sv.sign_in(store, "dr.rivera", own_demo[1]["dr.rivera"])
    course_id = sv.get_patient(store, provider, ben).courses[0].id
    sv.add_session(store, provider, course_id, date.today() - timedelta(days=10))
    at = signed_in(own_demo, "dr.rivera").run()
    table = at.dataframe[0].value
    assert dict(zip(table["identifier"], table["photo overdue"])) == {"demo-ben": True, "demo-ana": False}
    next(c for c in at.checkbox if c.label == "Photo overdue only").check().run()
    assert not at.exception
    assert list(at.dataframe[0].value["identifier"]) == ["demo-ben"]
    assert "1 of 2 patients." in page_text(at)
    next(c for c in at.checkbox if c.label == "Photo overdue only").uncheck().run()
    next(s for s in at.selectbox if s.label == "Sort by").set_value("Patient").run()
    assert list(at.dataframe[0].value["patient"]) == sorted(table["patient"])
    # His page names the overdue photo: day 7 after the new session.
    at.session_state["patient_id"] = ben
    at.switch_page("pages/patient_detail.py").run()
    day7 = date.today() - timedelta(days=3)
    assert f"photo overdue: day 7 after treatment 2 ({day7.day} {day7:%B})" in page_text(at)


def test_provider_filters_by_days_since_treatment_and_last_photo(demo):
    at = signed_in(demo, "dr.rivera").run()
    days = {r: (date.today() - treated_on(r)).days for r in ("demo-ana", "demo-ben")}
    slider = next(s for s in at.slider if s.label == "Days since treatment")
    youngest = min(days, key=days.get)
    slider.set_value((days[youngest], days[youngest])).run()
    assert list(at.dataframe[0].value["identifier"]) == [youngest]
    slider = next(s for s in at.slider if s.label == "Days since treatment")
    slider.set_value((min(days.values()), max(days.values()))).run()
    last = {r: date.fromisoformat(manifest_rows(r)[-1]["taken_on"]) for r in days}
    earliest = min(last, key=last.get)
    next(d for d in at.date_input if d.label == "Last photo before").set_value(max(last.values())).run()
    assert list(at.dataframe[0].value["identifier"]) == [earliest]


def test_patient_sees_the_next_photo_due_and_the_missed_ones(own_demo):
    store, passwords = own_demo
    # A second session for Ana five days ago: days 1 and 3 after it were missed, day 7 comes next.
    second = date.today() - timedelta(days=5)
    _, provider = sv.sign_in(store, "dr.rivera", passwords["dr.rivera"])
    ana = sv.find_patient_id(store, sv.SYSTEM, "demo-ana")
    sv.add_session(store, provider, sv.get_patient(store, provider, ana).courses[0].id, second)
    at = signed_in(own_demo, "ana").run()
    assert not at.exception
    assert "Your next photo" in [s.value for s in at.subheader]
    text = page_text(at)
    day7, day3 = second + timedelta(days=7), second + timedelta(days=3)
    assert f"Your next photo: day 7 after treatment 2 ({day7.day} {day7:%B})." in text
    assert f"Your photo for day 3 after treatment 2 ({day3.day} {day3:%B}) has not come yet." in text
    assert "day 1 after treatment 2" in text.split("Photos missed:")[1]
    assert "our estimate" in text


def test_provider_adds_a_note_and_edits_regions(own_demo):
    demo = own_demo
    at = signed_in(demo, "dr.rivera").run()
    at.session_state["patient_id"] = sv.find_patient_id(demo[0], sv.SYSTEM, "demo-ana")
    at.switch_page("pages/patient_detail.py").run()
    assert at.title[0].value == "demo-ana"
    at.text_area[0].input("Healing well; next photo in a week.")
    at.button(key="FormSubmitter:note-Add note").click().run()
    assert not at.exception
    assert "Healing well; next photo in a week." in page_text(at)
    before = {pt.photo_id: pt.result.metric("redness_a")
              for pt in sv.get_patient(demo[0], sv.SYSTEM, at.session_state["patient_id"]).courses[0].progress.points}
    roi_input = at.text_input[0]
    x, y, w, h = (int(v) for v in roi_input.value.split(","))
    roi_input.input(f"{x + 2},{y + 2},{w},{h}")
    at.button(key="FormSubmitter:regions-Save and re-analyse").click().run()
    assert not at.exception
    assert "Regions saved; every photo was measured again." in [m.value for m in at.success]  # after the rerun
    course = sv.get_patient(demo[0], sv.SYSTEM, at.session_state["patient_id"]).courses[0]
    assert course.roi == (x + 2, y + 2, w, h)
    # Every photo was measured again, in the moved region: each measured value changed.
    after = {pt.photo_id: pt.result.metric("redness_a") for pt in course.progress.points}
    assert after.keys() == before.keys()
    assert all(after[p] is not None and after[p] != before[p] for p in before if before[p] is not None)


def _drawn_box(at: AppTest, key: str, xs: list[float], ys: list[float]) -> None:
    """Stand for the browser's box selection on a chart (test_e2e_regions.py drags one with the mouse)."""
    from streamlit.elements.plotly_chart import PlotlySelectionState, PlotlyState

    at.session_state[key] = PlotlyState(selection=PlotlySelectionState(
        points=[], point_indices=[], box=[{"xref": "x", "yref": "y", "x": xs, "y": ys}], lasso=[]))


def test_provider_draws_the_control_on_the_baseline(own_demo):
    demo = own_demo
    at = signed_in(demo, "dr.rivera")
    at.session_state["patient_id"] = sv.find_patient_id(demo[0], sv.SYSTEM, "demo-ana")
    at.switch_page("pages/patient_detail.py").run()
    before = sv.get_patient(demo[0], sv.SYSTEM, at.session_state["patient_id"]).courses[0]
    (chart,) = at.get("plotly_chart")
    layout = json.loads(chart.proto.spec)["layout"]
    assert layout["dragmode"] == "select"
    shown_width, shown_height = layout["xaxis"]["range"][1], layout["yaxis"]["range"][0]
    width, height = before.baseline_size
    assert abs(shown_width / shown_height - width / height) < 0.01  # the photo as shown, in its proportions
    assert [r.label for r in at.radio] == ["What was treated"]  # which region a box marks: once one is drawn

    # A box too small to measure in: one sentence, nothing to save.
    key = f"regions_drawing_{before.id}"
    _drawn_box(at, key, [0.20 * shown_width, 0.20 * shown_width + 1], [0.5 * shown_height, 0.6 * shown_height])
    at.run()
    assert [e.value for e in at.error][-1].startswith("The treated area is too small (")
    assert not [b for b in at.button if b.label.startswith("Save the")]

    # Dragged up and to the left, marked as the control.
    _drawn_box(at, key, [0.30 * shown_width, 0.10 * shown_width], [0.90 * shown_height, 0.75 * shown_height])
    at.run()
    marks = next(r for r in at.radio if r.label == "The box marks")
    marks.set_value("control").run()
    expected = (round(0.10 * width), round(0.75 * height), round(0.20 * width), round(0.15 * height))
    captions = [img.caption for image in at.get("image") for img in image.proto.imgs]
    (previewed,) = [re.fullmatch(r"Preview: untreated control (\d+),(\d+),(\d+),(\d+) "
                                 r"\(X, Y, width, height in baseline pixels\)", c) for c in captions
                    if c.startswith("Preview")]
    assert max(abs(int(a) - b) for a, b in zip(previewed.groups(), expected)) <= 1, (previewed, expected)
    next(b for b in at.button if b.label == "Save the untreated control and re-analyse").click().run()
    assert not at.exception
    after = sv.get_patient(demo[0], sv.SYSTEM, at.session_state["patient_id"]).courses[0]
    assert after.control == tuple(int(v) for v in previewed.groups())
    assert after.roi == before.roi
    assert at.text_input[1].value == ",".join(map(str, after.control))  # the numbers, for precision


def test_provider_pdf_report(demo):
    at = signed_in(demo, "dr.rivera").run()
    at.session_state["patient_id"] = sv.find_patient_id(demo[0], sv.SYSTEM, "demo-ben")
    at.switch_page("pages/patient_detail.py").run()
    next(b for b in at.button if b.label == "Prepare PDF report").click().run()
    assert not at.exception
    patient_id, pdf = at.session_state["report"]
    assert patient_id == at.session_state["patient_id"]
    assert [b.label for b in at.get("download_button")] == ["Download PDF report"]
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Patient demo-ben" in text and "Identifier demo-ben" in text and "Fitzpatrick III" in text
    last_day = photo_day(manifest_rows("demo-ben")[-1])
    assert f"needs review: redness beyond the outer limit on day {last_day}" in text and "not a diagnosis" in text
    assert "Ask your provider to review" not in text  # the patient's wording is not the provider's
    assert f"Page {len(reader.pages)} of {len(reader.pages)}" in text
    # Every photo has its row (date, day, session) in the figures; the latest's Δa* is the simulated
    # redness (sample_images/truth.csv) within the tolerance the sample photos are held to.
    rows = {}
    for row in manifest_rows("demo-ben"):
        day = photo_day(row)
        rows[row["photo"]] = f"{row['taken_on']} {day} {1 if day > 0 else 0} "
        assert rows[row["photo"]] in text, row["photo"]
    latest = manifest_rows("demo-ben")[-1]["photo"]
    measured = re.search(re.escape(rows[latest]) + r"(-?\d+\.\d) ", text)
    added = float(TRUTH[latest]["true_delta_a_added"])
    assert measured and abs(float(measured.group(1)) - added) <= redness_tolerance(added), (measured, added)


def test_researcher_cohort_is_deidentified(demo):
    at = signed_in(demo, "researcher").run()
    assert at.title[0].value == "Cohort"
    table = at.session_state["cohort"].table
    assert isinstance(table, pd.DataFrame) and len(table) > 0
    flat = table.astype(str).to_string()
    assert "demo-ana" not in flat and "demo-ben" not in flat and "2026-" not in flat
    assert not at.exception


def test_admin_sees_users_and_audit_but_no_photos(demo):
    at = signed_in(demo, "admin").run()
    assert at.title[0].value == "Administration"
    users = at.dataframe[0].value
    assert set(users["username"]) >= {"admin", "dr.rivera", "researcher", "ana", "ben"}
    assert "password_hash" not in users.columns
    audit = at.dataframe[1].value
    assert "sign_in" in set(audit["action"])
    assert not at.get("image")


@pytest.mark.parametrize("user,page", [("ana", "pages/patients.py"), ("ana", "pages/patient_detail.py"),
                                       ("ana", "pages/cohort.py"), ("ana", "pages/admin.py"),
                                       ("researcher", "pages/patient_detail.py"), ("researcher", "pages/my_progress.py"),
                                       ("admin", "pages/patient_detail.py"), ("dr.rivera", "pages/cohort.py")])
def test_pages_of_other_roles_refuse(demo, user, page):
    """A page outside the role's navigation is refused by the page itself, and shows no one's data."""
    at = signed_in(demo, user)
    at.run()
    # Run the page script directly, bypassing navigation, as a crafted URL would.
    direct = AppTest.from_file(f"../{page}", default_timeout=60)
    direct.session_state["token"] = at.session_state["token"]
    direct.run()
    text = page_text(direct)
    assert "This page is not available to your account." in text
    assert "demo-ben" not in text and "demo-ana" not in text


def ben_is_shown(text: str) -> bool:
    """Whether any of Ben's record shows: his identifier, his status or his provider reasons."""
    return any(words in text for words in ("demo-ben", "Ask your provider to review", "still show clear redness",
                                           "redness_beyond_outer_limit"))


def test_a_patient_forcing_another_patients_id_still_sees_only_their_own_record(demo):
    """Session state naming Ben's record changes nothing on Ana's pages: they show Ana's."""
    at = signed_in(demo, "ana").run()
    at.session_state["patient_id"] = sv.find_patient_id(demo[0], sv.SYSTEM, "demo-ben")
    at.run()
    assert [t.value for t in at.title] == ["My progress"]
    assert [i.value for i in at.info][0] == "**On track**"  # Ana's status, not Ben's
    assert not ben_is_shown(page_text(at))
    # Ana's own 7 photos after treatment are the ones to step through, not Ben's 8.
    assert len(at.select_slider[0].options) == photos_of("demo-ana") - 1


@pytest.mark.parametrize("page", ["pages/patient_detail.py", "pages/patients.py"])
def test_a_patient_forcing_another_patients_id_onto_a_provider_page_is_refused(demo, page):
    at = signed_in(demo, "ana").run()
    ben = sv.find_patient_id(demo[0], sv.SYSTEM, "demo-ben")
    at.session_state["patient_id"] = ben
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page)  # not in a patient's navigation
    # Run directly, as a crafted URL would: the page itself refuses.
    direct = AppTest.from_file(f"../{page}", default_timeout=60)
    direct.session_state["token"] = at.session_state["token"]
    direct.session_state["patient_id"] = ben
    direct.run()
    assert [e.value for e in direct.error] == ["This page is not available to your account."]
    assert not ben_is_shown(page_text(direct)) and not direct.dataframe and not direct.get("image")


def test_a_provider_forcing_an_unassigned_patients_id_sees_only_their_own_patients(own_demo):
    store, _ = own_demo
    ana, ben = (sv.find_patient_id(store, sv.SYSTEM, ref) for ref in ("demo-ana", "demo-ben"))
    solo = sv.create_user(store, sv.SYSTEM, "dr.solo", "solo password 42", "provider")
    sv.assign_patient(store, sv.SYSTEM, solo, ana)
    token, _ = sv.sign_in(store, "dr.solo", "solo password 42")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["token"] = token
    at.session_state["patient_id"] = ben
    at.switch_page("pages/patient_detail.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["demo-ana"] and at.session_state["patient_id"] == ana
    assert at.selectbox[0].options == ["demo-ana (demo-ana)"]
    assert not ben_is_shown(page_text(at))
    assert len(at.dataframe[0].value) == photos_of("demo-ana")


def test_signed_out_visitor_sees_only_sign_in(demo):
    direct = AppTest.from_file("../pages/my_progress.py", default_timeout=60).run()
    assert "Please sign in." in page_text(direct)
    assert not direct.get("image") and not charts(direct) and [t.value for t in direct.title] == []


# --- user text and photo views (issue #13, findings 4 and 5) --------------------------------

FORGED_NAME = "**Dr. Admin** ![x](https://attacker.example/name.png) [call](https://attacker.example/)"
FORGED_NOTE = "Fine.\n\n**admin**, 01 Jan 2026 09:00: ![x](https://attacker.example/note.png) stop the treatment"


def markdown_shown(at: AppTest) -> list[str]:
    """Everything the page hands to Streamlit's Markdown renderer."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success")
    return [str(e.value) for kind in kinds for e in getattr(at, kind)] + [str(m.value) for m in at.sidebar.markdown]


def test_names_and_notes_are_shown_as_typed_never_as_markdown(own_demo):
    store, _ = own_demo
    provider = next(u for u in sv.list_users(store, sv.SYSTEM) if u["username"] == "dr.rivera")
    patient_id = sv.create_patient(store, sv.SYSTEM, "mallory-1", FORGED_NAME)
    sv.assign_patient(store, sv.SYSTEM, provider["id"], patient_id)
    _, actor = sv.sign_in(store, "dr.rivera", own_demo[1]["dr.rivera"])
    sv.add_note(store, actor, patient_id, FORGED_NOTE)

    at = signed_in(own_demo, "dr.rivera").run()
    at.session_state["patient_id"] = patient_id
    at.switch_page("pages/patient_detail.py").run()
    assert not at.exception
    shown = markdown_shown(at)
    assert not [text for text in shown if "![" in text or "**admin**" in text or "**Dr. Admin**" in text]
    assert at.title[0].value == literal(FORGED_NAME)
    assert [t.value for t in at.text] == [FORGED_NOTE]  # the note itself: plain text, as written
    assert any(text.startswith("dr.rivera · ") for text in shown)  # its author, in an element of its own


def test_every_photo_shown_is_audited_also_when_its_decoding_is_cached(own_demo):
    store, _ = own_demo

    def views() -> int:
        return sum(e["action"] == "photo_view" for e in sv.audit_log(store, sv.SYSTEM, limit=100_000))

    at = signed_in(own_demo, "dr.rivera").run()
    at.session_state["patient_id"] = sv.find_patient_id(store, sv.SYSTEM, "demo-ana")
    start = views()
    at.switch_page("pages/patient_detail.py").run()
    first = views() - start
    assert first >= 8 + 2  # the thumbnails and the aligned pair, at least
    at.run()  # the same page again: the decoded photos come from the cache
    assert views() - start == 2 * first


def test_a_provider_confirms_the_baseline_and_hides_a_photo_from_the_baseline_tab(own_demo):
    """Issue #13, finding 1: the provider's controls over the reference and what is on the time line."""
    store, _ = own_demo
    ana = sv.find_patient_id(store, sv.SYSTEM, "demo-ana")
    at = signed_in(own_demo, "dr.rivera").run()
    at.session_state["patient_id"] = ana
    at.switch_page("pages/patient_detail.py").run()
    assert any("has not been confirmed" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Confirm as the baseline").click().run()
    assert not at.exception
    course = sv.get_patient(store, sv.SYSTEM, ana).courses[0]
    assert course.baseline_confirmed and course.baseline_photo_id == course.photos[0].id
    assert "The baseline is confirmed by a provider." in [s.value for s in at.success]

    latest = course.photos[-1]
    chooser = next(s for s in at.selectbox if s.label == "Photo")
    chooser.set_value(latest.id).run()
    next(b for b in at.button if b.label == "Hide from the course").click().run()
    assert not at.exception
    course = sv.get_patient(store, sv.SYSTEM, ana).courses[0]
    assert {p.id: p.state for p in course.photos}[latest.id] == "hidden"
    assert latest.id not in [pt.photo_id for pt in course.progress.points]
    events = [e["action"] for e in sv.audit_log(store, sv.SYSTEM)]
    assert {"baseline_set", "photo_hide"} <= set(events)
