"""A provider's patients, most concerning first: filter, sort, and click a row to open the patient."""

import streamlit as st

from tracker import services as sv
from tracker.web.session import get_store, require_actor
from tracker.web.views import (
    PATIENT_LIST_ORDERS,
    PROVIDER_STATUS,
    filter_patient_list,
    patient_list_frame,
    sort_patient_list,
    treatment_name,
)

actor = require_actor("provider")
store = get_store()
st.title("Patients")
table = patient_list_frame(sv.list_patients(store, actor))
if table.empty:
    st.info("No patients are assigned to you yet.")
    st.stop()

treatments = sorted({t for keys in table["treatment_keys"] for t in keys})
days = table["days since treatment"].dropna()
left, middle, right = st.columns(3)
chosen_status = left.multiselect("Status", list(PROVIDER_STATUS), format_func=PROVIDER_STATUS.get)
chosen_treatments = middle.multiselect("Treatment", treatments, format_func=treatment_name)
order = right.selectbox("Sort by", list(PATIENT_LIST_ORDERS))
left, middle, right = st.columns(3)
day_range = None
if len(days) and days.min() < days.max():
    every_day = (int(days.min()), int(days.max()))
    chosen_days = left.slider("Days since treatment", *every_day, every_day)
    day_range = None if chosen_days == every_day else chosen_days  # untouched, it keeps patients without one
last_photo_before = middle.date_input("Last photo before", value=None)
overdue_only = right.checkbox("Photo overdue only")

shown = sort_patient_list(filter_patient_list(
    table, statuses=chosen_status, treatments=chosen_treatments, days_since_treatment=day_range,
    overdue_only=overdue_only, last_photo_before=last_photo_before), order)
st.caption(f"{len(shown)} of {len(table)} patients. Click a row to open the patient.")
selection = st.dataframe(
    shown.drop(columns=["id", "status_key", "treatment_keys"]), hide_index=True, width="stretch",
    on_select="rerun", selection_mode="single-row", key="patient_table",
    column_config={"photo overdue": st.column_config.CheckboxColumn("photo overdue")},
)
rows = selection.selection.rows if selection else []
if rows and rows[0] < len(shown):
    st.session_state["patient_id"] = int(shown["id"].iloc[rows[0]])
    st.switch_page("pages/patient_detail.py")
