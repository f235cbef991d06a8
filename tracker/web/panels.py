"""Parts of pages that hold more than layout: each renders one panel with Streamlit.

What a panel shows is computed in :mod:`tracker.web.views`; errors are shown by
:func:`tracker.web.errors.errors_shown`; reads and writes go through the services.
"""

from __future__ import annotations

import re
from datetime import datetime

import streamlit as st

from tracker import services as sv
from tracker.analysis import decode_photo
from tracker.analysis.align import MIRRORED_NOTE
from tracker.recovery import CourseProgress
from tracker.store.db import Store
from tracker.web.errors import errors_shown
from tracker.web.markdown import literal
from tracker.web.session import photo_rgb
from tracker.web.views import (
    aligned_pair,
    box_drawing_figure,
    course_frame,
    draw_regions,
    answers_text,
    fit_within,
    focal_redness_note,
    grade_texts,
    photo_figures,
    redness_band_frame,
    redness_chart,
    redness_heatmap,
    texture_chart,
)

__all__ = ["course_charts", "photo_timeline", "regions_editor", "baseline_panel", "notes_panel", "report_panel",
           "consent_panel", "grades_panel"]

PHOTO_STATE_LABEL = {"active": "in use", "held": "held for review (dated before the baseline)",
                     "hidden": "hidden by a provider"}


def course_charts(progress: CourseProgress, skin_type: str | None, *, with_table: bool = False) -> None:
    """Redness against the expected band, texture change when measured, and optionally the figures."""
    frame = course_frame(progress)
    st.altair_chart(redness_chart(frame, redness_band_frame(progress, skin_type)), width="stretch")
    if frame["texture_change_pct"].notna().any():
        st.altair_chart(texture_chart(frame, progress.treatment), width="stretch")
    if with_table:
        st.dataframe(frame.drop(columns=["photo_id", "usable"]), hide_index=True, width="stretch")


def photo_timeline(actor: sv.Actor, course: sv.CourseDetail):
    """Thumbnails of the latest photos, then one photo at a time aligned to the baseline, with its figures.

    Returns the photo shown (its :class:`~tracker.recovery.CoursePoint`), None when there is none.
    """
    points = list(course.progress.points)
    if not points:
        st.info("No photos yet.")
        return None
    thumbs = st.columns(min(len(points), 8))
    for i, pt in enumerate(points[-8:]):
        small, _ = photo_rgb(actor, pt.photo_id)
        thumbs[i].image(fit_within(small, 200), caption=f"{'✓' if pt.usable else '⚠️'} day {pt.day}")
    index = st.select_slider("Step through the photos", options=range(len(points)), value=len(points) - 1,
                             format_func=lambda i: f"day {points[i].day} ({points[i].taken_at:%d %b %Y})")
    point = points[index]
    base, base_scale = photo_rgb(actor, course.baseline_photo_id)
    photo, photo_scale = photo_rgb(actor, point.photo_id)
    if point.ok and point.result.matrix is not None:
        base_small, aligned, valid = aligned_pair(base, photo, point.result.matrix, 900,
                                                  baseline_scale=base_scale, photo_scale=photo_scale,
                                                  region=point.result.region)
        left, middle, right = st.columns(3)
        left.image(draw_regions(base_small, course.roi, course.control,
                                base_small.shape[1] / base.shape[1] * base_scale), caption="Baseline with the regions")
        middle.image(aligned, caption=f"Day {point.day}, aligned to the baseline")
        right.image(redness_heatmap(base_small, aligned, valid, point.result)[0],
                    caption="Δa* against the baseline, 0 to 10 a* units (brighter is redder)")
        note = focal_redness_note(point)
        if note:
            st.warning(note)
        if point.result.mirrored:
            st.caption(MIRRORED_NOTE)
    else:
        st.image(fit_within(photo, 900), caption=f"Day {point.day} (could not be aligned)")
    if not point.ok:
        st.error(point.result.problem or "This photo could not be measured.")
    elif point.quality_ok is False:
        st.warning("Quality problems: " + " ".join(point.quality_issues))
    for column, (label, value) in zip(st.columns(4), photo_figures(point)):
        column.metric(label, value)
    if point.result.texture_withheld:
        st.caption(point.result.texture_withheld)
    return point


def grades_panel(store: Store, actor: sv.Actor, course: sv.CourseDetail, photo_id: int) -> None:
    """A photo's grades and the patient's answers, then a form to grade it with each scale's published wording."""
    from tracker.recovery.scales import SCALES

    recorded = course.grades.get(photo_id)
    for line in grade_texts(recorded) + [answers_text(recorded) or "The patient gave no answers for this photo."]:
        st.caption(line)
    scale = SCALES[st.selectbox("Grade this photo on", list(SCALES), format_func=lambda k: SCALES[k].name,
                                key="grade_scale")]
    st.caption(f"{scale.definition} Version {scale.version}. Source: {scale.source}.")
    items = {}
    for item in scale.items:
        choice, wording = st.columns([1, 2])
        items[item.key] = choice.selectbox(item.name, range(item.low, item.high + 1), index=None,
                                           key=f"grade_{scale.key}_{item.key}")
        if item.wording:
            wording.markdown("\n".join(f"- {item.describe(g)}" for g in range(item.low, item.high + 1)))
    if st.button("Record the grade"):
        with errors_shown():
            sv.grade_photo(store, actor, photo_id, scale.key, items)
            st.rerun()


#: What a course's treatment covered, as the regions form offers it.
TREATED_CHOICES = {"face": "The whole face", "region": "Only the treated area"}

#: Which region a box drawn on the baseline sets.
DRAWN_REGIONS = {"roi": "Treated area", "control": "Untreated control"}

#: Longest side, in pixels, of the baseline on which regions are drawn.
REGIONS_SIDE = 900
_REGIONS_SAVED = "regions_saved_course"


def regions_editor(store: Store, actor: sv.Actor, course: sv.CourseDetail) -> None:
    """The baseline with its regions: drag a box over it to set the treated area or the control, or type the
    numbers; every photo is measured again."""
    if course.baseline_photo_id is None:
        st.info("Regions are drawn on the baseline photo, which does not exist yet.")
        return
    if st.session_state.pop(_REGIONS_SAVED, None) == course.id:  # said after the rerun that shows the new regions
        st.success("Regions saved; every photo was measured again.")
    base, base_scale = photo_rgb(actor, course.baseline_photo_id)
    shown = fit_within(base, REGIONS_SIDE)
    shown_scale = shown.shape[1] / base.shape[1] * base_scale  # pixels shown per baseline pixel
    width, height = course.baseline_size
    st.caption("Treated area (orange) and untreated control (blue). Drag a box over the photo to draw a region.")
    drawing = st.plotly_chart(box_drawing_figure(draw_regions(shown, course.roi, course.control, shown_scale)),
                              on_select="rerun", selection_mode="box", key=f"regions_drawing_{course.id}",
                              config={"displaylogo": False})
    drawn = drawing.selection.box
    if drawn:
        choice, preview = st.columns(2)
        which = choice.radio("The box marks", list(DRAWN_REGIONS), format_func=DRAWN_REGIONS.get)
        name = DRAWN_REGIONS[which].lower()
        with errors_shown():
            box = sv.drawn_region(drawn[-1]["x"], drawn[-1]["y"], (shown.shape[1], shown.shape[0]), (width, height),
                                  name)
            roi, control = (box, course.control) if which == "roi" else (course.roi, box)
            preview.image(draw_regions(shown, roi, control, shown_scale),
                          caption=f"Preview: {name} {','.join(map(str, box))} (X, Y, width, height in baseline pixels)")
            if choice.button(f"Save the {name} and re-analyse", type="primary"):
                _save_regions(store, actor, course, roi, control)
    with st.expander("Type the regions as numbers, for precision"):
        with st.form("regions"):
            st.write(f"Baseline photo: {width} × {height} pixels. Boxes are X, Y, width, height.")
            roi_text = st.text_input("Treated area", ",".join(map(str, course.roi or [])))
            control_text = st.text_input("Untreated control", ",".join(map(str, course.control or [])))
            extents = list(TREATED_CHOICES)
            treated = st.radio("What was treated", extents, index=extents.index(course.treated_extent),
                               format_func=TREATED_CHOICES.get, horizontal=True,
                               help="When the whole face was treated, skin outside the treated area is not taken "
                                    "as unchanged: colour is normalised on the surroundings, a control or the "
                                    "colour card.")
            save = st.form_submit_button("Save and re-analyse")
    if save:
        with errors_shown():
            _save_regions(store, actor, course, sv.parse_region(roi_text), sv.parse_region(control_text), treated)


def _save_regions(store: Store, actor: sv.Actor, course: sv.CourseDetail, roi, control,
                  treated: str | None = None) -> None:
    with st.spinner("Re-analysing the photos…"):
        sv.set_regions(store, actor, course.id, roi, control, treated)
    st.session_state[_REGIONS_SAVED] = course.id
    st.rerun()


def baseline_panel(store: Store, actor: sv.Actor, course: sv.CourseDetail) -> None:
    """The course's photos with their state; confirm the baseline, choose another, hide or show a photo."""
    if course.baseline_photo_id is None:
        st.info("There is no photo to measure against yet.")
        return
    if course.baseline_confirmed:
        st.success("The baseline is confirmed by a provider.")
    else:
        st.warning("The baseline is the earliest photo and has not been confirmed: check that it shows the treated "
                   "area before treatment, then confirm it or choose another.")
    held = [p for p in course.photos if p.state == "held"]
    if held:
        st.warning(f"{len(held)} photo(s) uploaded by the patient are dated before the baseline and are held for "
                   "review: use one as the baseline, or hide it.")
    labels = {p.id: (f"{p.taken_at:%d %b %Y %H:%M} · {PHOTO_STATE_LABEL[p.state]}"
                     + (" · baseline" if p.id == course.baseline_photo_id else "")
                     + ("" if p.on_timeline or p.state != "active" else " · before the baseline, not measured"))
              for p in course.photos}
    chosen = st.selectbox("Photo", list(labels), format_func=labels.get,
                          index=list(labels).index(held[0].id if held else course.baseline_photo_id))
    small, _ = photo_rgb(actor, chosen)
    st.image(fit_within(small, 600), caption=labels[chosen])
    state = next(p.state for p in course.photos if p.id == chosen)
    use, hide = st.columns(2)
    if use.button("Confirm as the baseline" if chosen == course.baseline_photo_id else "Use as the baseline",
                  disabled=state == "hidden" or (chosen == course.baseline_photo_id and course.baseline_confirmed)):
        with errors_shown(), st.spinner("Measuring every photo against the baseline…"):
            sv.set_baseline(store, actor, course.id, chosen)
            st.rerun()
    if state == "hidden":
        if hide.button("Show on the course again"):
            with errors_shown():
                sv.unhide_photo(store, actor, chosen)
                st.rerun()
    elif hide.button("Hide from the course"):
        with errors_shown():
            sv.hide_photo(store, actor, chosen)
            st.rerun()


def notes_panel(store: Store, actor: sv.Actor, patient_id: int) -> list[dict]:
    """The providers' notes on a patient, newest first, with a form to add one; returns the notes."""
    with st.form("note", clear_on_submit=True):
        text = st.text_area("New note", placeholder="Visible only to this patient's providers.")
        if st.form_submit_button("Add note"):
            with errors_shown():
                sv.add_note(store, actor, patient_id, text)
    notes = sv.list_notes(store, actor, patient_id)
    for note in notes:
        # Author and date in an element of their own, the note as plain text: a note cannot
        # forge another note's author, nor make a reader's browser fetch anything.
        with st.container(border=True):
            st.caption(f"{literal(note['author'])} · {note['created_at']:%d %b %Y %H:%M}")
            st.text(note["text"])
    if not notes:
        st.caption("No notes yet.")
    return notes


def report_panel(store: Store, actor: sv.Actor, patient: sv.PatientDetail, notes: list[dict]) -> None:
    """Prepare the PDF report on request, then offer it for download."""
    if st.button("Prepare PDF report"):
        from tracker.web.report import patient_report_pdf, photos_needed

        with errors_shown(), st.spinner("Preparing the report…"):
            photos = {pid: decode_photo(sv.photo_bytes(store, actor, pid)).rgb for pid in photos_needed(patient)}
            st.session_state["report"] = (patient.id, patient_report_pdf(
                patient, notes, photos, prepared_by=actor.username, generated_at=datetime.now()))
    report = st.session_state.get("report")
    if report and report[0] == patient.id:
        safe_name = re.sub(r"[^\w.-]", "_", patient.reference)  # the identifier is the clinic's free text
        st.download_button("Download PDF report", report[1], file_name=f"report-{safe_name}.pdf",
                           mime="application/pdf", type="primary")


def consent_panel(store: Store, actor: sv.Actor, patient_id: int, *, own: bool = False) -> None:
    """The patient's consent to research use: its state, the text, and the button that changes it.

    ``own``: the patient is reading about themself ("you"), else a provider or administrator.
    """
    from tracker.services.consent import CONSENT_TEXTS, CURRENT_CONSENT_VERSION, consent_sentence

    status = sv.consent_status(store, actor, patient_id)
    st.write(consent_sentence(status))
    st.caption(f"Consent text, version {CURRENT_CONSENT_VERSION}: {CONSENT_TEXTS[CURRENT_CONSENT_VERSION]}")
    if status.consenting:
        if st.button("Withdraw my consent" if own else "Withdraw consent (takes effect at the next export)",
                     key=f"consent_withdraw_{patient_id}"):
            with errors_shown():
                sv.withdraw_consent(store, actor, patient_id)
                st.rerun()
    else:
        label = "I agree to this text" if own else "Record consent to this text (as the patient gave it)"
        if st.button(label, key=f"consent_give_{patient_id}"):
            with errors_shown():
                sv.record_consent(store, actor, patient_id, CURRENT_CONSENT_VERSION)
                st.rerun()
