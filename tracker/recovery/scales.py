"""Validated clinical grading scales and the patient questionnaire, with their published definitions.

Each scale carries its version, its items with their ranges and the wording of every grade, and
its source, once: the app shows the wording beside the input, the services store the version
with every grade, and the export's data dictionary is generated from here.

>>> SCALES["cea"].score({"grade": 2})
2.0
>>> SCALES["vancouver"].score({"vascularity": 2, "pigmentation": 1, "pliability": 3, "height": 1})
7.0
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ScaleItem", "Scale", "SCALES", "Question", "QUESTIONNAIRE", "QUESTIONNAIRE_VERSION",
           "check_grade", "check_answers"]


@dataclass(frozen=True)
class ScaleItem:
    """One item of a scale: its key, its name and its grades (``low``..``high``), worded where published."""

    key: str
    name: str
    low: int
    high: int
    wording: tuple[str, ...] = ()  # one per grade from ``low``, when the scale words each grade

    def describe(self, grade: int) -> str:
        """The grade with its published wording, e.g. ``"2: mild erythema, definite redness"``."""
        if self.wording:
            return f"{grade}: {self.wording[grade - self.low]}"
        return str(grade)


@dataclass(frozen=True)
class Scale:
    """A validated clinical scale: one item (a grade) or several (scored as their sum)."""

    key: str
    name: str
    version: str
    items: tuple[ScaleItem, ...]
    definition: str  # what is graded and how, as published
    source: str
    export_column: str  # the column of the de-identified export holding the grade or total

    @property
    def low(self) -> int:
        return sum(item.low for item in self.items)

    @property
    def high(self) -> int:
        return sum(item.high for item in self.items)

    def score(self, items: dict[str, int]) -> float:
        """The grade (one item) or the total (several); ValueError naming what is missing or out of range."""
        return float(sum(check_grade(self, items).values()))


def check_grade(scale: Scale, items: dict[str, int]) -> dict[str, int]:
    """The item grades as whole numbers within their ranges; ValueError with one sentence otherwise."""
    out = {}
    for item in scale.items:
        value = items.get(item.key)
        if value is None:
            raise ValueError(f"{scale.name}: give a grade for {item.name.lower()}.")
        if isinstance(value, bool) or int(value) != value or not item.low <= value <= item.high:
            raise ValueError(f"{scale.name}: {item.name.lower()} is graded as a whole number from {item.low} to "
                             f"{item.high}, not {value}.")
        out[item.key] = int(value)
    unknown = set(items) - set(out)
    if unknown:
        raise ValueError(f"{scale.name} has no item {sorted(unknown)[0]!r}.")
    return out


_POSAS_ITEM = "1 (like normal skin) to 10 (the worst scar imaginable)"

SCALES: dict[str, Scale] = {s.key: s for s in (
    Scale(
        "cea", "Clinician's Erythema Assessment (CEA)", "1",
        (ScaleItem("grade", "Erythema", 0, 4, (
            "clear skin with no signs of erythema",
            "almost clear; slight redness",
            "mild erythema; definite redness",
            "moderate erythema; marked redness",
            "severe erythema; fiery redness",
        )),),
        "The clinician grades the redness of the treated area as seen, from 0 (clear) to 4 (severe).",
        "Tan J, Liu H, Leyden JJ, Leoni MJ. Reliability of Clinician Erythema Assessment grading scale. "
        "J Am Acad Dermatol 2014;71(4):760-763",
        "cea_grade",
    ),
    Scale(
        "gais", "Global Aesthetic Improvement Scale (GAIS)", "1",
        (ScaleItem("grade", "Improvement", 1, 5, (
            "very much improved: optimal cosmetic result",
            "much improved: marked improvement in appearance, but not completely optimal",
            "improved: obvious improvement in appearance from the initial condition",
            "no change: the appearance is essentially the same as the original condition",
            "worse: the appearance is worse than the original condition",
        )),),
        "The clinician compares the photo with the one before treatment and rates the overall aesthetic "
        "improvement, from 1 (very much improved) to 5 (worse).",
        "Narins RS, Brandt F, Leyden J, Lorenc ZP, Rubin M, Smith S. A randomized, double-blind, multicenter "
        "comparison of the efficacy and tolerability of Restylane versus Zyplast for the correction of "
        "nasolabial folds. Dermatol Surg 2003;29(6):588-595",
        "gais_grade",
    ),
    Scale(
        "posas_observer", "Patient and Observer Scar Assessment Scale, observer part (POSAS 2.0)", "2.0",
        tuple(ScaleItem(key, name, 1, 10) for key, name in (
            ("vascularity", "Vascularity"), ("pigmentation", "Pigmentation"), ("thickness", "Thickness"),
            ("relief", "Relief"), ("pliability", "Pliability"), ("surface_area", "Surface area"))),
        f"The observer grades six items of the scar, each from {_POSAS_ITEM}, compared with normal skin nearby; "
        "the total is their sum, 6 (normal skin) to 60.",
        "Draaijers LJ, Tempelman FR, Botman YA, et al. The patient and observer scar assessment scale: a reliable "
        "and feasible tool for scar evaluation. Plast Reconstr Surg 2004;113(7):1960-1965; version 2.0, "
        "www.posas.nl",
        "posas_observer_total",
    ),
    Scale(
        "vancouver", "Vancouver Scar Scale (VSS)", "1",
        (ScaleItem("vascularity", "Vascularity", 0, 3, ("normal", "pink", "red", "purple")),
         ScaleItem("pigmentation", "Pigmentation", 0, 2, ("normal", "hypopigmentation", "hyperpigmentation")),
         ScaleItem("pliability", "Pliability", 0, 5, ("normal", "supple", "yielding", "firm", "banding",
                                                       "contracture")),
         ScaleItem("height", "Height", 0, 3, ("flat", "under 2 mm", "2 to 5 mm", "over 5 mm"))),
        "The clinician grades the scar's vascularity, pigmentation, pliability and height; the total is their "
        "sum, 0 (normal skin) to 13.",
        "Sullivan T, Smith J, Kermode J, McIver E, Courtemanche DJ. Rating the burn scar. J Burn Care Rehabil "
        "1990;11(3):256-260",
        "vancouver_total",
    ),
)}


@dataclass(frozen=True)
class Question:
    """One question of the patient questionnaire; every answer is optional."""

    key: str
    text: str
    kind: str  # "nrs" (a whole number low..high) or "yes_no"
    meaning: str  # for the data dictionary
    short: str  # for a line of answers: "pain 3/10"
    low: int = 0
    high: int = 10


QUESTIONNAIRE_VERSION = "2026-12"
#: Asked when a patient adds photos. Numeric rating scales (0-10) as in patient-reported
#: downtime after laser resurfacing; the answers describe the day the photos were taken.
QUESTIONNAIRE: tuple[Question, ...] = (
    Question("pain", "Pain today (0 none, 10 the worst imaginable)", "nrs",
             "Patient-reported pain on the photo's day, numeric rating scale 0 (none) to 10 (worst imaginable)",
             "pain"),
    Question("itch", "Itch today (0 none, 10 the worst imaginable)", "nrs",
             "Patient-reported itch on the photo's day, numeric rating scale 0 (none) to 10 (worst imaginable)",
             "itch"),
    Question("swelling", "Swelling today (0 none, 10 the worst imaginable)", "nrs",
             "Patient-reported swelling on the photo's day, numeric rating scale 0 (none) to 10 (worst imaginable)",
             "swelling"),
    Question("usual_activities", "Could you go out as usual today?", "yes_no",
             "Patient-reported: could go out as usual on the photo's day (social downtime over when true)",
             "could go out as usual"),
    Question("satisfaction", "How satisfied are you with how your skin is healing? (0 not at all, 10 completely)",
             "nrs", "Patient-reported satisfaction with healing, 0 (not at all) to 10 (completely)", "satisfaction"),
)


def check_answers(answers: dict) -> dict:
    """The answers given (None and missing ones left out), checked; ValueError with one sentence otherwise."""
    questions = {q.key: q for q in QUESTIONNAIRE}
    unknown = set(answers) - set(questions)
    if unknown:
        raise ValueError(f"There is no question {sorted(unknown)[0]!r}.")
    out = {}
    for key, value in answers.items():
        if value is None:
            continue
        question = questions[key]
        if question.kind == "yes_no":
            if not isinstance(value, bool):
                raise ValueError(f"Answer yes or no to: {question.text}")
        elif isinstance(value, bool) or int(value) != value or not question.low <= value <= question.high:
            raise ValueError(f"Answer with a whole number from {question.low} to {question.high}: {question.text}")
        else:
            value = int(value)
        out[key] = value
    return out
