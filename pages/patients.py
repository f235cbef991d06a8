"""A provider's patients, most concerning first."""

import streamlit as st

from tracker import services as sv
from tracker.web.views import STATUS_LABEL, patient_list_frame, treatment_name
from tracker.web.session import get_store, require_actor

actor = require_actor("provider")
store = get_store()
st.title("Patients")
table = patient_list_frame(sv.list_patients(store, actor))
if table.empty:
    st.info("No patients are assigned to you yet.")
    st.stop()

treatments = sorted({t for keys in table["treatment_keys"] for t in keys})
left, right = st.columns(2)
chosen_treatments = left.multiselect("Treatment", treatments, format_func=treatment_name)
chosen_status = right.multiselect("Status", list(STATUS_LABEL), format_func=STATUS_LABEL.get)
shown = table
if chosen_treatments:
    shown = shown[shown["treatment_keys"].apply(lambda keys: any(t in keys for t in chosen_treatments))]
if chosen_status:
    shown = shown[shown["status_key"].isin(chosen_status)]

st.caption(f"{len(shown)} of {len(table)} patients. Sorted by concern: review first, then slower than typical.")
selection = st.dataframe(
    shown.drop(columns=["id", "status_key", "treatment_keys"]), hide_index=True, width="stretch",
    on_select="rerun", selection_mode="single-row", key="patient_table",
)
rows = selection.selection.rows if selection else []
names = dict(zip(shown["id"], shown["patient"]))
choice = st.selectbox("Open a patient", shown["id"].tolist(),
                      index=rows[0] if rows else None, placeholder="Choose a patient", format_func=names.get)
if st.button("Open", type="primary", disabled=choice is None):
    st.session_state["patient_id"] = int(choice)
    st.switch_page("pages/patient_detail.py")
