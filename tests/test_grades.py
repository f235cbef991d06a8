"""Clinician grades and patient-reported outcomes: validation, who may record them, and where they show
(the provider's page and PDF, the de-identified export with its data dictionary)."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from streamlit.testing.v1 import AppTest

from tracker import services as sv
from tracker.recovery.scales import QUESTIONNAIRE, QUESTIONNAIRE_VERSION, SCALES, check_answers, check_grade
from tracker.services.exports import data_dictionary, research_export

APP = "../app.py"


def test_scales_score_their_items_and_refuse_what_is_out_of_range():
    assert SCALES["posas_observer"].score({k: 2 for k in ("vascularity", "pigmentation", "thickness", "relief",
                                                         "pliability", "surface_area")}) == 12.0
    assert (SCALES["vancouver"].low, SCALES["vancouver"].high) == (0, 13)
    assert (SCALES["posas_observer"].low, SCALES["posas_observer"].high) == (6, 60)
    assert SCALES["cea"].items[0].describe(4) == "4: severe erythema; fiery redness"
    assert SCALES["gais"].items[0].describe(1) == "1: very much improved: optimal cosmetic result"
    with pytest.raises(ValueError, match=r"^Clinician's Erythema Assessment \(CEA\): erythema is graded as a whole "
                                         r"number from 0 to 4, not 5\.$"):
        check_grade(SCALES["cea"], {"grade": 5})
    with pytest.raises(ValueError, match="give a grade for height"):
        check_grade(SCALES["vancouver"], {"vascularity": 1, "pigmentation": 0, "pliability": 1})
    with pytest.raises(ValueError, match="not 1.5"):
        check_grade(SCALES["cea"], {"grade": 1.5})
    assert check_answers({"pain": 3, "itch": None, "usual_activities": False}) == {"pain": 3,
                                                                                   "usual_activities": False}
    with pytest.raises(ValueError, match="^Answer with a whole number from 0 to 10: Pain today"):
        check_answers({"pain": 11})
    with pytest.raises(ValueError, match="^Answer yes or no to: Could you go out"):
        check_answers({"usual_activities": 1})


def _course(store, reference: str):
    return sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, reference)).courses[0]


def test_grades_and_answers_are_recorded_by_whom_they_belong_to_and_exported(app_demo):
    store, passwords = app_demo
    _, provider = sv.sign_in(store, "dr.rivera", passwords["dr.rivera"])
    _, ana = sv.sign_in(store, "ana", passwords["ana"])
    _, ben = sv.sign_in(store, "ben", passwords["ben"])
    course = _course(store, "demo-ana")
    photo = course.progress.points[3].photo_id
    sv.grade_photo(store, provider, photo, "cea", {"grade": 1})
    sv.grade_photo(store, provider, photo, "cea", {"grade": 2})  # supersedes the first
    sv.grade_photo(store, provider, photo, "vancouver", {"vascularity": 2, "pigmentation": 0, "pliability": 1,
                                                         "height": 0})
    sv.answer_questionnaire(store, ana, photo, {"pain": 2, "itch": 5, "usual_activities": True})
    with pytest.raises(sv.AccessDenied):
        sv.grade_photo(store, ana, photo, "cea", {"grade": 0})  # patients do not grade
    with pytest.raises(sv.NotFound):
        sv.answer_questionnaire(store, ben, photo, {"pain": 9})  # not his photo
    with pytest.raises(sv.InputError, match="^Unknown scale 'ecca'"):
        sv.grade_photo(store, provider, photo, "ecca", {"grade": 1})

    recorded = _course(store, "demo-ana").grades[photo]
    assert {k: (g.score, g.scale_version) for k, g in recorded.grades.items()} == {"cea": (2.0, "1"),
                                                                                 "vancouver": (3.0, "1")}
    assert (recorded.answers, recorded.questionnaire_version) == ({"pain": 2, "itch": 5, "usual_activities": True},
                                                                  QUESTIONNAIRE_VERSION)

    table = research_export(store, sv.SYSTEM).table
    row = table[table["cea_grade"].notna()]
    assert len(row) == 1
    assert row[["cea_grade", "vancouver_total", "pro_pain", "pro_itch", "pro_usual_activities"]].iloc[0].tolist() \
        == [2.0, 3.0, 2, 5, True]
    assert row[["gais_grade", "posas_observer_total", "pro_swelling"]].isna().all(axis=None)
    assert table["cea_grade"].notna().sum() == 1 and table["pro_pain"].notna().sum() == 1
    dictionary = data_dictionary().set_index("column")
    for scale in SCALES.values():
        assert scale.name in dictionary.loc[scale.export_column, "meaning"]
        assert dictionary.loc[scale.export_column, "source"] == scale.source
    for question in QUESTIONNAIRE:
        assert dictionary.loc[f"pro_{question.key}", "meaning"].startswith(question.meaning)
    assert list(dictionary.index) == list(table.columns)


def test_provider_grades_a_photo_beside_the_definitions_and_sees_it_in_the_report(app_demo):
    store, passwords = app_demo
    token, _ = sv.sign_in(store, "dr.rivera", passwords["dr.rivera"])
    _, ben_actor = sv.sign_in(store, "ben", passwords["ben"])
    course = _course(store, "demo-ben")
    latest = course.progress.points[-1].photo_id
    sv.answer_questionnaire(store, ben_actor, latest, {"swelling": 4, "satisfaction": 6})
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["token"] = token
    at.run()
    at.switch_page("pages/patient_detail.py").run()
    assert not at.exception
    captions = "\n".join(c.value for c in at.caption)
    assert "Patient's answers: swelling 4/10, satisfaction 6/10" in captions
    assert "0: clear skin with no signs of erythema" in "\n".join(str(m.value) for m in at.markdown)
    at.selectbox(key="grade_scale").set_value("cea").run()
    at.selectbox(key="grade_cea_grade").set_value(3).run()
    [b for b in at.button if b.label == "Record the grade"][0].click().run()
    assert not at.exception
    assert _course(store, "demo-ben").grades[latest].grades["cea"].score == 3.0
    assert "Clinician's Erythema Assessment (CEA) 3: moderate erythema; marked redness" in "\n".join(
        c.value for c in at.caption)

    [b for b in at.button if b.label == "Prepare PDF report"][0].click().run()
    pdf = at.session_state["report"][1]
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Clinician's Erythema Assessment (CEA) 3: moderate erythema; marked redness" in " ".join(text.split())
    assert "swelling 4/10, satisfaction 6/10" in " ".join(text.split())
