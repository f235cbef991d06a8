"""A patient's progress: latest photo against the first, redness map, charts and status."""

from datetime import date

import cv2
import streamlit as st

from tracker import services as sv
from tracker.web.session import choose_course, get_store, photo_rgb, require_actor, show_status
from tracker.web.views import (
    STATUS_HELP,
    aligned_pair,
    course_frame,
    course_schedule,
    measured_points,
    redness_band_frame,
    redness_chart,
    redness_heatmap,
    schedule_sentences,
    texture_chart,
)

actor = require_actor("patient")
store = get_store()
patient = sv.get_patient(store, actor, actor.patient_id)
st.title("My progress")
if not patient.courses:
    st.info("Your clinic has not recorded a treatment for you yet.")
    st.stop()
course = choose_course(patient)
progress = course.progress

show_status(progress, for_provider=False)
st.caption(STATUS_HELP)

today = date.today()
photo_plan = schedule_sentences(course_schedule(course, today), today)
if photo_plan:
    st.subheader("Your next photo")
    for sentence in photo_plan:
        st.write(sentence)
    st.caption("The suggested days are our estimate of when photos show the most about healing after this "
               "treatment, not a rule; a photo taken a little off the day still counts.")

frame = course_frame(progress)
measured = measured_points(progress)
if course.baseline_photo_id is not None and measured:
    st.subheader("Latest photo and your first photo")
    index = st.select_slider("Photo", options=range(len(measured)), value=len(measured) - 1,
                             format_func=lambda i: f"day {measured[i].day} ({measured[i].taken_at:%d %b})")
    point = measured[index]
    base, base_scale = photo_rgb(actor, course.baseline_photo_id)
    photo, photo_scale = photo_rgb(actor, point.photo_id)
    base_small, aligned, valid = aligned_pair(base, photo, point.result.matrix, 900,
                                              baseline_scale=base_scale, photo_scale=photo_scale,
                                              region=point.result.region)
    left, right = st.columns(2)
    left.image(base_small, caption="First photo")
    right.image(aligned, caption=f"Day {point.day}, lined up with the first photo")
    left, right = st.columns(2)
    with left:
        blend = st.slider("Overlay: first photo ← → this photo", 0, 100, 50, format="%d%%")
        st.image(cv2.addWeighted(base_small, 1 - blend / 100, aligned, blend / 100, 0), caption="Overlay")
    with right:
        overlay, _ = redness_heatmap(base_small, aligned, valid, point.result)
        st.image(overlay, caption="Where the skin is redder than in your first photo: brighter yellow is redder "
                                  "(0 to 10 a* units). Colours are corrected for the light of each photo.")
    if point.quality_issues:
        st.warning("This photo has a problem: " + " ".join(point.quality_issues))

st.subheader("Redness over time")
st.altair_chart(redness_chart(frame, redness_band_frame(progress, patient.skin_type)), width="stretch")
st.caption("The shaded band is the typical course after this treatment; the dashed line its middle. "
           "Crosses are photos left out because of their quality.")
if frame["texture_change_pct"].notna().any():
    st.subheader("Skin texture")
    st.altair_chart(texture_chart(frame, course.treatment), width="stretch")
    st.caption("Texture measured from photos is a rough guide; the green band (or line) is when improvement "
               "usually becomes visible.")
st.info("Contact your provider if you have pain, blisters, crusts that spread, or redness that gets worse — "
        "whatever this page shows.")
