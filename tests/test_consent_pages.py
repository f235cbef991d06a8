"""Consent and erasure in the app (AppTest on a copy of the demo): the provider's and the patient's
consent controls, the researcher's cohort leaving out who withdrew, the administrator's erasure."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tracker import services as sv

APP = "../app.py"


def signed_in(app_demo, user: str, page: str | None = None) -> AppTest:
    store, passwords = app_demo
    token, _ = sv.sign_in(store, user, passwords[user])
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["token"] = token
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "text", "success", "info")
                     for e in getattr(at, kind))


def button(at: AppTest, label: str):
    (found,) = [b for b in at.button if b.label == label]
    return found


def test_provider_withdraws_consent_and_the_cohort_leaves_the_patient_out(app_demo):
    store, _ = app_demo
    ben = sv.find_patient_id(store, sv.SYSTEM, "demo-ben")
    at = signed_in(app_demo, "dr.rivera", "pages/patient_detail.py")  # Ben opens first
    assert "Consents to research use (text 2026-12" in texts(at)
    button(at, "Withdraw consent (takes effect at the next export)").click().run()
    assert not at.exception
    assert not sv.consent_status(store, sv.SYSTEM, ben).consenting
    assert "Consent to research use withdrawn on" in texts(at)

    cohort = signed_in(app_demo, "researcher")
    assert "1 patient left out: no consent to research use (never given, or withdrawn)." in texts(cohort)
    assert cohort.session_state["cohort"].table["patient_pseudonym"].nunique() == 1

    button(at, "Record consent to this text (as the patient gave it)").click().run()
    assert sv.consent_status(store, sv.SYSTEM, ben).consenting


def test_a_patient_reads_the_text_and_withdraws_their_own_consent(app_demo):
    store, _ = app_demo
    ana = sv.find_patient_id(store, sv.SYSTEM, "demo-ana")
    at = signed_in(app_demo, "ana", "pages/account.py")
    assert "de-identified: under a code instead of my name" in texts(at)
    button(at, "Withdraw my consent").click().run()
    assert not sv.consent_status(store, sv.SYSTEM, ana).consenting
    assert [b.label for b in at.button if "agree" in b.label] == ["I agree to this text"]


def test_admin_erases_a_patient_only_after_typing_their_identifier(app_demo):
    store, _ = app_demo
    at = signed_in(app_demo, "admin")
    at.selectbox(key="consent_patient").set_value(sv.find_patient_id(store, sv.SYSTEM, "demo-ben")).run()
    erase = button(at, "Erase the patient for good")
    assert erase.disabled
    at.text_input(key="erase_confirm").input("demo-ana").run()
    assert button(at, "Erase the patient for good").disabled
    at.text_input(key="erase_confirm").input("demo-ben").run()
    button(at, "Erase the patient for good").click().run()
    assert not at.exception
    assert any(s.value.startswith("Erased: 9 photos, 1 accounts") for s in at.success)
    assert sv.find_patient_id(store, sv.SYSTEM, "demo-ben") is None
    assert at.selectbox(key="consent_patient").options == ["demo-ana (demo-ana)"]
