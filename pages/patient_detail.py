"""One patient for their provider: aligned photo timeline, charts, regions, notes and a PDF report."""

from datetime import datetime

import streamlit as st

from tracker import services as sv
from tracker.io import decode_photo
from tracker.views import (
    aligned_pair,
    course_frame,
    draw_regions,
    fit_within,
    redness_band_frame,
    redness_chart,
    texture_chart,
)
from tracker.webapp import choose_course, get_store, photo_rgb, require_actor, show_status

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
try:
    patient = sv.get_patient(store, actor, patient_id)
except sv.NotFound as exc:
    st.error(str(exc))
    st.stop()

st.title(patient.display_name)
st.caption(f"Identifier {patient.reference} · skin type {patient.skin_type or 'not recorded'}")
if not patient.courses:
    st.info("No treatment is recorded for this patient yet.")
course = choose_course(patient) if patient.courses else None

if course is not None:
    progress = course.progress
    show_status(progress, for_provider=True)
    sessions = ", ".join(f"{d:%d %b %Y}" for d in course.sessions)
    st.caption(f"Sessions: {sessions}. The status compares measurements with the typical course; it is not a "
               "diagnosis.")

    photos_tab, charts_tab, regions_tab = st.tabs(["Photo timeline", "Charts", "Regions"])
    points = list(progress.points)
    with photos_tab:
        if not points:
            st.info("No photos yet.")
        else:
            thumbs = st.columns(min(len(points), 8))
            for i, pt in enumerate(points[-8:]):
                small, _ = photo_rgb(actor, pt.photo_id)
                mark = "⚠️" if (not pt.ok or pt.quality_ok is False) else "✓"
                thumbs[i].image(fit_within(small, 200), caption=f"{mark} day {pt.day}")
            index = st.select_slider("Step through the photos", options=range(len(points)), value=len(points) - 1,
                                     format_func=lambda i: f"day {points[i].day} ({points[i].taken_at:%d %b %Y})")
            point = points[index]
            base, base_scale = photo_rgb(actor, course.baseline_photo_id)
            photo, photo_scale = photo_rgb(actor, point.photo_id)
            if point.ok and point.result.get("alignment", {}).get("matrix"):
                base_small, aligned, _ = aligned_pair(base, photo, point.result["alignment"]["matrix"], 900,
                                                      baseline_scale=base_scale, photo_scale=photo_scale)
                left, right = st.columns(2)
                left.image(draw_regions(base_small, course.roi, course.control, base_small.shape[1] / base.shape[1]
                                        * base_scale), caption="Baseline with the regions")
                right.image(aligned, caption=f"Day {point.day}, aligned to the baseline")
            else:
                st.image(fit_within(photo, 900), caption=f"Day {point.day} (could not be aligned)")
            if not point.ok:
                st.error(point.result.get("error") or "This photo could not be measured.")
            elif point.quality_ok is False:
                st.warning("Quality problems: " + " ".join(point.quality_issues))
            metrics = point.metrics
            cols = st.columns(4)
            cols[0].metric("Redness above before (Δa*)",
                           "-" if point.excess_redness is None else f"{point.excess_redness:.1f}")
            cols[1].metric("ITA°", "-" if metrics.get("ita_deg") is None else f"{metrics['ita_deg']:.1f}")
            cols[2].metric("Melanin index", "-" if metrics.get("melanin_index") is None else
                           f"{metrics['melanin_index']:.1f}")
            cols[3].metric("Texture vs before", "-" if point.texture_change is None else
                           f"{100 * point.texture_change:+.0f}%")
    with charts_tab:
        frame = course_frame(progress)
        st.altair_chart(redness_chart(frame, redness_band_frame(progress, patient.skin_type)), width="stretch")
        if frame["texture_change_pct"].notna().any():
            st.altair_chart(texture_chart(frame, course.treatment), width="stretch")
        st.dataframe(frame.drop(columns=["photo_id", "usable"]), hide_index=True, width="stretch")
    with regions_tab:
        if course.baseline_photo_id is None:
            st.info("Regions are drawn on the baseline photo, which does not exist yet.")
        else:
            base, base_scale = photo_rgb(actor, course.baseline_photo_id)
            st.image(draw_regions(base, course.roi, course.control, base_scale),
                     caption="Treated area (orange) and untreated control (blue), in baseline pixels")
            width, height = course.baseline_size
            with st.form("regions"):
                st.write(f"Baseline photo: {width} × {height} pixels. Boxes are X, Y, width, height.")
                roi_text = st.text_input("Treated area", ",".join(map(str, course.roi or [])))
                control_text = st.text_input("Untreated control", ",".join(map(str, course.control or [])))
                save = st.form_submit_button("Save and re-analyse")
            if save:
                try:
                    with st.spinner("Re-analysing the photos…"):
                        sv.set_regions(store, actor, course.id, sv.parse_region(roi_text),
                                       sv.parse_region(control_text))
                except (sv.InputError, sv.NotFound) as exc:
                    st.error(str(exc))
                else:
                    st.success("Regions saved; every photo was measured again.")
                    st.rerun()

st.subheader("Notes")
with st.form("note", clear_on_submit=True):
    text = st.text_area("New note", placeholder="Visible only to this patient's providers.")
    if st.form_submit_button("Add note"):
        try:
            sv.add_note(store, actor, patient.id, text)
        except sv.InputError as exc:
            st.error(str(exc))
notes = sv.list_notes(store, actor, patient.id)
for note in notes:
    st.markdown(f"**{note['author']}**, {note['created_at']:%d %b %Y %H:%M}: {note['text']}")
if not notes:
    st.caption("No notes yet.")

st.subheader("Report")
if st.button("Prepare PDF report"):
    from tracker.report import patient_report_pdf, photos_needed

    with st.spinner("Preparing the report…"):
        photos = {pid: decode_photo(sv.photo_bytes(store, actor, pid)).rgb for pid in photos_needed(patient)}
        st.session_state["report"] = (patient.id, patient_report_pdf(
            patient, notes, photos, prepared_by=actor.username, generated_at=datetime.now()))
report = st.session_state.get("report")
if report and report[0] == patient.id:
    st.download_button("Download PDF report", report[1], file_name=f"report-{patient.reference}.pdf",
                       mime="application/pdf", type="primary")
