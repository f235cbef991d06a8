"""Patients add photos; each is checked at once and the patient is told whether it is usable."""

from datetime import date

import streamlit as st

from tracker import services as sv
from tracker.analysis import capture_time
from tracker.web.errors import errors_shown
from tracker.web.markdown import literal, plain_label
from tracker.web.session import MAX_PHOTOS_PER_BATCH, choose_course, get_store, photo_rgb, require_actor
from tracker.web.views import draw_regions, upload_time, upload_verdict

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
    if len(files) > MAX_PHOTOS_PER_BATCH:
        st.error(f"Add at most {MAX_PHOTOS_PER_BATCH} photos at a time: only the first {MAX_PHOTOS_PER_BATCH} "
                 "are checked. Add the others afterwards.")
        files = files[:MAX_PHOTOS_PER_BATCH]
    chosen = []
    for i, f in enumerate(files):
        data = f.getvalue()
        taken = capture_time(data)
        day = st.date_input(f"Date taken: {plain_label(f.name)}", value=taken.date() if taken else date.today(),
                            max_value=date.today(), key=f"date_{i}_{f.name}",
                            help="Read from the photo when it carries its date; correct it if needed.")
        before_session = None
        if day in course.sessions:  # a treatment day: the photo may show the skin before or after it
            timing = st.radio(f"{plain_label(f.name)} was taken on a treatment day: before or after the treatment?",
                              ["Before the treatment", "After the treatment"], index=None, horizontal=True,
                              key=f"timing_{i}_{f.name}")
            before_session = None if timing is None else timing == "Before the treatment"
        chosen.append((f.name, data, *upload_time(taken, day), before_session))
    answers = {}
    if files:
        with st.expander("How is your skin today? (optional: answer what you like)"):
            from tracker.recovery.scales import QUESTIONNAIRE

            for question in QUESTIONNAIRE:
                if question.kind == "yes_no":
                    said = st.radio(question.text, ["Yes", "No"], index=None, horizontal=True,
                                    key=f"question_{question.key}")
                    answers[question.key] = None if said is None else said == "Yes"
                else:
                    answers[question.key] = st.number_input(question.text, question.low, question.high, value=None,
                                                            step=1, key=f"question_{question.key}")
    if files and st.button("Check and add", type="primary"):
        progress = st.progress(0.0, text="Checking photos…")
        for i, (name, data, when, source, before_session) in enumerate(chosen):
            with errors_shown(f"{name} could not be used: "):
                outcome = sv.add_photo(store, actor, course.id, data, when, taken_at_source=source,
                                       before_session=before_session)
                sv.answer_questionnaire(store, actor, outcome.photo_id, answers)
                if outcome.held:
                    st.warning(f"{literal(name)} is dated before your first photo, so it is kept for your provider "
                               "to review and is not used in your progress. Check the date if that is a mistake.")
                else:
                    kind, text = upload_verdict(literal(name), outcome)
                    getattr(st, kind)(text)
            progress.progress((i + 1) / len(files), text=f"Checked {i + 1} of {len(files)}")
