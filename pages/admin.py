"""Administrators: accounts and roles (unlock, password reset), patients' providers and consent, erasure on
request, the audit log."""

import pandas as pd
import streamlit as st

from tracker import services as sv
from tracker.web.errors import errors_shown
from tracker.web.markdown import plain_label
from tracker.web.panels import consent_panel
from tracker.web.session import get_store, require_actor

actor = require_actor("admin")
store = get_store()
st.title("Administration")
users_tab, assign_tab, patients_tab, audit_tab = st.tabs(["Accounts", "Assignments", "Consent and erasure",
                                                          "Audit log"])
users = sv.list_users(store, actor)
patients = sv.list_patients(store, actor)
patient_names = {p.id: f"{p.display_name} ({p.reference})" for p in patients}

with users_tab:
    st.dataframe(pd.DataFrame(users), hide_index=True, width="stretch")
    with st.form("add_user", clear_on_submit=True):
        st.subheader("Add an account")
        username = st.text_input("User name")
        role = st.selectbox("Role", sv.ROLES)
        patient_id = st.selectbox("Patient record (patient accounts only)", [None, *patient_names],
                                  format_func=lambda pid: "—" if pid is None else patient_names[pid])
        password = st.text_input("Initial password", type="password")
        if st.form_submit_button("Add account"):
            with errors_shown():
                sv.create_user(store, actor, username, password, role, patient_id if role == "patient" else None)
                st.success("Account added.")
                st.rerun()
    accounts = {u["id"]: f"{u['username']} ({u['role']})" for u in users if u["id"] != actor.user_id}
    if accounts:
        chosen = st.selectbox("Account", list(accounts), format_func=accounts.get)
        enable, disable, unlock = st.columns(3)
        for column, label, active in ((enable, "Enable (and unlock)", True),
                                      (disable, "Disable (ends its sessions)", False)):
            if column.button(label):
                with errors_shown():
                    sv.set_user_active(store, actor, chosen, active)
                    st.rerun()
        if unlock.button("Unlock (after failed sign-ins)"):
            with errors_shown():
                sv.unlock_user(store, actor, chosen)
                st.success("The account is unlocked from everywhere.")
        with st.form("reset_password", clear_on_submit=True):
            new_password = st.text_input(f"New password for this account ({sv.MIN_PASSWORD} to {sv.MAX_PASSWORD} "
                                         "characters; its sessions end)", type="password")
            if st.form_submit_button("Reset the password"):
                with errors_shown():
                    sv.reset_password(store, actor, chosen, new_password)
                    st.success("Password reset; tell its owner through a channel you trust.")

with assign_tab:
    providers = {u["id"]: u["username"] for u in users if u["role"] == "provider"}
    if not providers:
        st.info("Add a provider account first.")
    else:
        provider = st.selectbox("Provider", list(providers), format_func=providers.get)
        current = next(u["assigned_patients"] for u in users if u["id"] == provider)
        chosen = st.multiselect("Patients this provider may see", list(patient_names), default=current,
                                format_func=patient_names.get)
        if st.button("Save assignments", type="primary"):
            with errors_shown():
                for pid in set(chosen) - set(current):
                    sv.assign_patient(store, actor, provider, pid)
                for pid in set(current) - set(chosen):
                    sv.unassign_patient(store, actor, provider, pid)
                st.success("Assignments saved.")
                st.rerun()

with patients_tab:
    if not patient_names:
        st.info("There are no patients.")
    else:
        patient_id = st.selectbox("Patient", list(patient_names), format_func=patient_names.get, key="consent_patient")
        consent_panel(store, actor, patient_id)
        st.subheader("Erase this patient")
        reference = next(p.reference for p in patients if p.id == patient_id)
        st.caption("On the patient's request: their photos, measurements, notes and their own accounts are removed "
                   "for good; the audit log keeps its events under a pseudonymous id. Backups made before still "
                   "hold the patient.")
        typed = st.text_input(plain_label(f"Type the patient's identifier, {reference}, to confirm"), key="erase_confirm")
        if st.button("Erase the patient for good", type="primary", disabled=typed.strip() != reference):
            with errors_shown():
                erased = sv.erase_patient(store, actor, patient_id)
                st.session_state["erased"] = (f"Erased: {erased.photos} photos, {erased.accounts} accounts; the "
                                              f"audit log keeps the pseudonymous id {erased.subject}.")
                st.rerun()
        if "erased" in st.session_state:
            st.success(st.session_state.pop("erased"))

with audit_tab:
    st.caption("Who did what, by account and patient id; no names or photo content are recorded.")
    st.dataframe(pd.DataFrame(sv.audit_log(store, actor)), hide_index=True, width="stretch")
