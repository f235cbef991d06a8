"""Consent and erasure in a real Chromium against the app as `tracker app` serves it (see test_e2e.py).

A patient withdraws her consent on her account page; the researcher's cohort then leaves her
out and says so, also in the CSV downloaded; an administrator erases the other patient after
typing his identifier. Screenshots go to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

from test_e2e import WAIT, app, browser, chromium, go_to, page, shot, shown, sign_in  # noqa: F401 (fixtures)

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
