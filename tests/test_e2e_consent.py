"""Consent, erasure, grades and answers in a real Chromium against the app as `tracker app` serves it
(see test_e2e.py).

A patient withdraws her consent on her account page; the researcher's cohort then leaves her
out and says so, also in the CSV downloaded; an administrator erases the other patient after
typing his identifier. A patient answers the optional questions as she adds a photo; her
provider sees the answers beside it and grades it. Screenshots go to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

from test_e2e import WAIT, app, browser, chromium, go_to, page, settle, shot, shown, sign_in  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_withdrawn_consent_leaves_the_cohort_and_an_erased_patient_leaves_the_store(app, browser, page, shot,
                                                                                   tmp_path):
    from playwright.sync_api import expect

    from tracker import services as sv
    from tracker.store.db import open_store

    sign_in(page, "ana", app.passwords["ana"], "My progress", url=app.base_url)
    go_to(page, "My account")
    expect(page.get_by_text("de-identified: under a code instead of my name")).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="Withdraw my consent").click()
    shown(page, page.get_by_text("Consent to research use withdrawn on"))
    shown(page, page.get_by_role("button", name="I agree to this text"))
    shot("ana_withdrew")

    researcher = browser.new_context(viewport={"width": 1300, "height": 2400}, accept_downloads=True).new_page()
    researcher.set_default_timeout(WAIT)
    sign_in(researcher, "researcher", app.passwords["researcher"], "Cohort", url=app.base_url)
    shown(researcher, researcher.get_by_text("1 patient left out: no consent to research use"))
    with researcher.expect_download(timeout=WAIT) as info:
        researcher.get_by_role("button", name="Download CSV", exact=True).click()
    path = tmp_path / "cohort.csv"
    info.value.save_as(path)
    table = pd.read_csv(io.StringIO(path.read_text(encoding="utf-8")), dtype=str)
    assert table["patient_pseudonym"].nunique() == 1  # Ben's rows only
    assert len(table) == 9
    researcher.context.close()

    admin = browser.new_context(viewport={"width": 1300, "height": 2400}).new_page()
    admin.set_default_timeout(WAIT)
    sign_in(admin, "admin", app.passwords["admin"], "Administration", url=app.base_url)
    admin.get_by_role("tab", name="Consent and erasure").click()
    admin.get_by_label("Patient", exact=True).click()
    admin.get_by_role("option", name="demo-ben (demo-ben)").click()
    settle(admin)
    erase = admin.get_by_role("button", name="Erase the patient for good")
    expect(erase).to_be_disabled()
    admin.get_by_label("Type the patient's identifier, demo-ben, to confirm").fill("demo-ben")
    admin.get_by_label("Type the patient's identifier, demo-ben, to confirm").press("Enter")
    expect(erase).to_be_enabled(timeout=WAIT)
    erase.click()
    shown(admin, admin.get_by_text("Erased: 9 photos, 1 accounts"))
    admin.context.close()

    store = open_store(app.data_dir)
    try:
        assert sv.find_patient_id(store, sv.SYSTEM, "demo-ben") is None
        assert not sv.consent_status(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "demo-ana")).consenting
    finally:
        store.close()


def test_patient_answers_with_a_photo_and_the_provider_grades_it(app, browser, page, shot, tmp_path):
    """Ana answers the optional questions as she adds a photo; her provider sees them and grades the photo."""
    from playwright.sync_api import expect

    from test_e2e import follow_up_photo

    photo = tmp_path / "day35.jpg"
    photo.write_bytes(follow_up_photo())
    sign_in(page, "ana", app.passwords["ana"], "My progress", url=app.base_url)
    go_to(page, "Add photos")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(photo)])
    page.get_by_text("How is your skin today? (optional: answer what you like)").click()
    pain = page.get_by_label("Pain today (0 none, 10 the worst imaginable)")
    pain.fill("3")
    pain.press("Enter")
    settle(page)  # each answer reruns the script: the next must not land in the middle of a run and be lost
    went_out = page.get_by_role("radiogroup", name="Could you go out as usual today?")
    went_out.get_by_text("Yes").click()
    settle(page)
    expect(pain).to_have_value("3")
    expect(went_out.get_by_role("radio", name="Yes")).to_be_checked()
    shot("answered")
    page.get_by_role("button", name="Check and add").click()
    shown(page, page.get_by_text(f"{photo.name} is usable and has been added to your progress chart."))

    provider = browser.new_context(viewport={"width": 1300, "height": 2400}).new_page()
    provider.set_default_timeout(WAIT)
    sign_in(provider, "dr.rivera", app.passwords["dr.rivera"], "Patients", url=app.base_url)
    provider.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Patient detail").click()
    shown(provider, provider.get_by_role("heading", name="Grades and the patient's answers"))
    provider.get_by_label("Patient", exact=True).click()
    provider.get_by_role("option", name="demo-ana (demo-ana)").click()
    settle(provider)
    shown(provider, provider.get_by_text("Patient's answers: pain 3/10, could go out as usual yes"))
    expect(provider.get_by_text("0: clear skin with no signs of erythema")).to_be_visible()
    provider.get_by_label("Erythema", exact=True).click()
    provider.get_by_role("option", name="2", exact=True).click()
    settle(provider)
    provider.get_by_role("button", name="Record the grade").click()
    shown(provider, provider.get_by_text("Clinician's Erythema Assessment (CEA) 2: mild erythema; definite redness "
                                         "(version 1)"))
    provider.screenshot(path=str(tmp_path / "graded.png"))
    provider.context.close()
