"""Everyone: change one's own password; patients: their consent to research use."""

import streamlit as st

from tracker import services as sv
from tracker.web.errors import errors_shown
from tracker.web.panels import consent_panel
from tracker.web.session import current_browser_key, get_store, require_actor

actor = require_actor()
st.title("My account")
with st.form("password", clear_on_submit=True):
    st.subheader("Change your password")
    current = st.text_input("Current password", type="password")
    new = st.text_input(f"New password ({sv.MIN_PASSWORD} to {sv.MAX_PASSWORD} characters)", type="password")
    again = st.text_input("New password again", type="password")
    if st.form_submit_button("Change password", type="primary"):
        with errors_shown():
            if new != again:
                raise sv.InputError("The two new passwords differ; type the same one twice.")
            sv.change_password(get_store(), actor, current, new, keep_token=st.session_state.get("token"),
                               keep_browser_key=current_browser_key())
            st.success("Your password is changed; your other sessions have ended.")

if actor.role == "patient" and actor.patient_id is not None:
    st.subheader("Research use of your data")
    consent_panel(get_store(), actor, actor.patient_id, own=True)
