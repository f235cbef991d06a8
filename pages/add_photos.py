"""Patients add photos; each is checked at once and the patient is told whether it is usable."""

from datetime import date, datetime, time

import streamlit as st

from tracker import services as sv
from tracker.io import PhotoError, capture_time
from tracker.views import draw_regions
from tracker.webapp import choose_course, get_store, photo_rgb, require_actor

actor = require_actor("patient")
store = get_store()
patient = sv.get_patient(store, actor, actor.patient_id)
st.title("Add photos")
if not patient.courses:
    st.info("Your clinic has not recorded a treatment for you yet, so photos cannot be added.")
    st.stop()

course = choose_course(patient)
left, right = st.columns([3, 2])
with right:
    st.subheader("Framing guide")
    if course.baseline_photo_id is not None:
        guide, scale = photo_rgb(actor, course.baseline_photo_id)
        st.image(draw_regions(guide, course.roi, course.control, scale),
                 caption="Your first photo. Take new ones from the same distance and angle, in the same light.")
    st.markdown("- About 20 cm from the skin, the phone held straight\n- Daylight from a window, no flash\n"
                "- Tap the skin to focus, hold still\n- No make-up or cream on the area")

with left:
    uploads = st.file_uploader("Photos from your phone", accept_multiple_files=True,
                               type=["jpg", "jpeg", "png", "heic", "heif", "webp", "tif", "tiff"])
    with st.expander("Or take a photo with this device's camera"):
        camera = st.camera_input("Camera")
    files = list(uploads or []) + ([camera] if camera is not None else [])
    dates = {}
    for i, f in enumerate(files):
        data = f.getvalue()
        taken = capture_time(data)
        dates[i] = (data, taken, st.date_input(
            f"Date taken: {f.name}", value=taken.date() if taken else date.today(), max_value=date.today(),
            key=f"date_{i}_{f.name}", help="Read from the photo when it carries its date; correct it if needed."))
    if files and st.button("Check and add", type="primary"):
        progress = st.progress(0.0, text="Checking photos…")
        for i, f in enumerate(files):
            data, taken, chosen = dates[i]
            when = taken.replace(tzinfo=None) if taken and taken.date() == chosen else datetime.combine(chosen, time(12))
            try:
                outcome = sv.add_photo(store, actor, course.id, data, when,
                                       taken_at_source="exif" if taken and taken.date() == chosen else "entered")
            except PhotoError as exc:
                st.error(f"**{f.name}** could not be used: {exc}")
            else:
                result = outcome.analysis or {}
                quality = result.get("quality") or {}
                if not outcome.created:
                    st.info(f"**{f.name}** was added before.")
                elif outcome.is_baseline:
                    st.success(f"**{f.name}** is now your first (reference) photo.")
                elif result.get("ok") and quality.get("ok"):
                    st.success(f"**{f.name}** is usable and has been added to your progress chart.")
                else:
                    problems = " ".join(quality.get("issues") or [result.get("error") or ""])
                    st.warning(f"**{f.name}** was saved but cannot be used for your chart. {problems}")
            progress.progress((i + 1) / len(files), text=f"Checked {i + 1} of {len(files)}")
