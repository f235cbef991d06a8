"""One patient for their provider: aligned photo timeline, charts, regions, notes and a PDF report."""

from datetime import date

import streamlit as st

from tracker import services as sv
from tracker.web.markdown import literal
from tracker.web.panels import (
    baseline_panel,
    consent_panel,
    course_charts,
    grades_panel,
    notes_panel,
    photo_timeline,
    regions_editor,
    report_panel,
)
from tracker.web.session import choose_course, get_store, require_actor, show_status
from tracker.web.views import course_schedule, provider_schedule_line

actor = require_actor("provider")
store = get_store()
patients = sv.list_patients(store, actor)
if not patients:
    st.info("No patients are assigned to you yet.")
    st.stop()
ids = [p.id for p in patients]
names = {p.id: f"{p.display_name} ({p.reference})" for p in patients}
current = st.session_state.get("patient_id")
patient_id = st.selectbox("Patient", ids, index=ids.index(current) if current in ids else 0, format_func=names.get)
st.session_state["patient_id"] = patient_id
patient = sv.get_patient(store, actor, patient_id)

st.title(literal(patient.display_name))
st.caption(f"Identifier {literal(patient.reference)} · skin type {patient.skin_type or 'not recorded'}")
if patient.courses:
    course = choose_course(patient)
    show_status(course.progress, for_provider=True)
    st.caption(f"Sessions: {', '.join(f'{d:%d %b %Y}' for d in course.sessions)}. The status compares "
               "measurements with the typical course; it is not a diagnosis.")
    photo_plan = provider_schedule_line(course_schedule(course, date.today()))
    if photo_plan:
        st.caption(photo_plan)
    photos_tab, charts_tab, regions_tab, baseline_tab = st.tabs(["Photo timeline", "Charts", "Regions",
                                                                 "Baseline and photos"])
    with photos_tab:
        shown = photo_timeline(actor, course)
        if shown is not None:
            st.subheader("Grades and the patient's answers")
            grades_panel(store, actor, course, shown.photo_id)
    with charts_tab:
        course_charts(course.progress, patient.skin_type, with_table=True)
    with regions_tab:
        regions_editor(store, actor, course)
    with baseline_tab:
        baseline_panel(store, actor, course)
else:
    st.info("No treatment is recorded for this patient yet.")

st.subheader("Notes")
notes = notes_panel(store, actor, patient.id)
st.subheader("Research consent")
consent_panel(store, actor, patient.id)
st.subheader("Report")
report_panel(store, actor, patient, notes)
