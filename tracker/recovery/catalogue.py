"""Treatment catalogue: the expected healing course of each laser or light treatment.

The numbers live in ``treatments.toml`` beside this module (shipped in the wheel and read
with :mod:`importlib.resources`); this module turns them into frozen :class:`Treatment`
records and refuses a file in which any number lacks a source.

Notes
-----
Days are counted from the treatment session, day 0 being the day of treatment. Where the
literature disagrees the catalogue widens the band to cover both sources instead of picking
one (e.g. fully ablative CO2 redness: 60-90 d in Trelles 1998 against a 4.5-month mean in
Nanni & Alster 1998). Figures that the project's literature summary gives without naming a
primary study cite ``"Clinical timelines notes"`` so that they stay visibly provisional.

References
----------
.. [1] Trelles MA et al. The origin and role of erythema after carbon dioxide laser
   resurfacing. Dermatologic Surgery, 1998.
.. [2] Nanni CA, Alster TS. Complications of carbon dioxide laser resurfacing. An evaluation
   of 500 patients. Dermatologic Surgery, 1998.
.. [3] Ko NY et al. Analysis of erythema after Er:YAG laser skin resurfacing. Dermatologic
   Surgery, 2007.

The full bibliography is :data:`BIBLIOGRAPHY`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping

__all__ = [
    "BIBLIOGRAPHY",
    "REVIEW_WINDOWS",
    "TREATMENTS",
    "DarkerSkin",
    "Reference",
    "ReviewWindows",
    "Treatment",
    "UnknownTreatmentError",
    "adjusted_for_skin_type",
    "cite",
    "describe_treatment",
    "fitzpatrick_type",
    "get_treatment",
    "treatment_keys",
]

_CATALOGUE_FILE = "treatments.toml"
_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_ROMAN_FITZPATRICK = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}
_ROMAN_BY_NUMBER = {number: roman for roman, number in _ROMAN_FITZPATRICK.items()}


@dataclass(frozen=True)
class Reference:
    """One work in the catalogue's bibliography.

    Attributes
    ----------
    key : str
        The citation used in ``sources``, e.g. ``"Trelles 1998"``.
    authors, title, journal : str
        As published; ``authors`` ends in ``et al.`` where the full list was not verified.
    year : int or None
        Publication year; None for the project's own literature summary.
    """

    key: str
    authors: str
    title: str
    journal: str
    year: int | None = None


@dataclass(frozen=True)
class DarkerSkin:
    """How darker skin changes a treatment's expected course.

    Attributes
    ----------
    from_fitzpatrick : int
        Lowest Fitzpatrick type (1-6) to which this adjustment applies.
    pih_risk : str
        Plain-language darkening (post-inflammatory hyperpigmentation) risk for darker skin.
    resolution_day_typical, resolution_day_high, review_after_day : float or None
        Redness-course values that replace the treatment's own for darker skin; None keeps
        the treatment's value.
    """

    from_fitzpatrick: int
    pih_risk: str
    resolution_day_typical: float | None = None
    resolution_day_high: float | None = None
    review_after_day: float | None = None


@dataclass(frozen=True)
class Treatment:
    """Expected course after one session of a treatment type; every number is sourced.

    All days count from the session (day 0 = day of treatment).

    Attributes
    ----------
    key : str
        lower_snake_case identifier, e.g. ``"fractional_co2"``.
    name : str
        Human-readable name.
    ablative : bool
        Whether the treatment removes epidermis (fully or in microscopic columns).
    onset_day, peak_day : float
        When redness becomes visible and when it is strongest.
    resolution_day_low, resolution_day_typical, resolution_day_high : float
        Day by which redness has faded: the early edge, the typical day and the late edge of
        the expected band.
    review_after_day : float
        Outer limit: redness still clearly visible after this day warrants provider review.
    pih_risk : str
        Plain-language risk of darkening (post-inflammatory hyperpigmentation).
    sessions_low, sessions_high : int
        Typical number of sessions in a series.
    rising_review_after_day : float or None
        For ablative treatments, redness still rising after this day warrants review.
    ooze_until_day, crust_from_day, crust_until_day, swelling_until_day : float or None
        Wound milestones; crusting includes bronzing, flaking and IPL flecks.
    skin_closed_day_low, skin_closed_day_high : float or None
        When the treated skin has closed; None for treatments that do not wound.
    open_area_review_after_day : float or None
        An area still open or oozing after this day warrants review.
    texture_visible_day_low, texture_visible_day_high : float or None
        When a texture gain becomes visible, counted from the first session.
    texture_plateau_day_low, texture_plateau_day_high : float or None
        When the texture gain plateaus, counted from the last session of a series.
    interval_weeks_low, interval_weeks_high : float or None
        Weeks between sessions; ``interval_weeks_high`` None means "at least".
    darker_skin : DarkerSkin or None
        Adjustment for darker skin types, where the sources describe one.
    texture_note : str or None
        Texture finding for treatments without a texture timeline.
    sources : Mapping[str, tuple of str]
        Bibliography keys per field name; darker-skin fields are ``"darker_skin.<field>"``.
    notes : Mapping[str, str]
        How a number was read from its source, where that needs saying.
    """

    key: str
    name: str
    ablative: bool
    onset_day: float
    peak_day: float
    resolution_day_low: float
    resolution_day_typical: float
    resolution_day_high: float
    review_after_day: float
    pih_risk: str
    sessions_low: int
    sessions_high: int
    rising_review_after_day: float | None = None
    ooze_until_day: float | None = None
    crust_from_day: float | None = None
    crust_until_day: float | None = None
    swelling_until_day: float | None = None
    skin_closed_day_low: float | None = None
    skin_closed_day_high: float | None = None
    open_area_review_after_day: float | None = None
    texture_visible_day_low: float | None = None
    texture_visible_day_high: float | None = None
    texture_plateau_day_low: float | None = None
    texture_plateau_day_high: float | None = None
    interval_weeks_low: float | None = None
    interval_weeks_high: float | None = None
    darker_skin: DarkerSkin | None = None
    texture_note: str | None = None
    sources: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False, repr=False
    )
    notes: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False, repr=False
    )


@dataclass(frozen=True)
class ReviewWindows:
    """Days since a session in which a colour change against baseline warrants review.

    Attributes
    ----------
    darkening_from_day, darkening_until_day : float
        New darkening (ITA° down, melanin index up) in weeks 2-6.
    lightening_from_day, lightening_until_day : float
        Lightening below baseline in months 3-12.
    sources : Mapping[str, tuple of str]
        Bibliography keys per field.
    """

    darkening_from_day: float
    darkening_until_day: float
    lightening_from_day: float
    lightening_until_day: float
    sources: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False, repr=False
    )


class UnknownTreatmentError(KeyError, ValueError):
    """Raised for a treatment key that is not in the catalogue; the message lists the keys."""

    def __str__(self) -> str:
        return str(self.args[0])


_INT_FIELDS = frozenset({"sessions_low", "sessions_high"})
_TEXT_FIELDS = frozenset({"pih_risk", "texture_note"})
_NUMBER_FIELDS = frozenset(
    f.name for f in fields(Treatment) if f.name not in {"key", "name", "ablative", "darker_skin", "sources", "notes"}
) - _TEXT_FIELDS
_DARKER_SKIN_NUMBERS = frozenset(
    {"from_fitzpatrick", "resolution_day_typical", "resolution_day_high", "review_after_day"}
)


def _sourced_entry(
    entry: Any, where: str, bibliography: Mapping[str, Reference], kind: str
) -> tuple[Any, tuple[str, ...], str | None]:
    if not isinstance(entry, dict) or kind not in entry:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} must be {{ {kind} = ..., sources = [...] }}.")
    sources = tuple(entry.get("sources", ()))
    if not sources:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} has no source.")
    unknown = [s for s in sources if s not in bibliography]
    if unknown:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} cites {unknown}, which the bibliography lacks.")
    value = entry[kind]
    if kind == "value" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{_CATALOGUE_FILE}: {where} must be a number, got {value!r}.")
    if kind == "text" and not isinstance(value, str):
        raise ValueError(f"{_CATALOGUE_FILE}: {where} must be text, got {value!r}.")
    return value, sources, entry.get("note")


def _parse_darker_skin(
    table: dict, where: str, bibliography: Mapping[str, Reference], sources: dict, notes: dict
) -> DarkerSkin:
    values: dict[str, Any] = {}
    for name, entry in table.items():
        if name in _DARKER_SKIN_NUMBERS:
            kind = "value"
        elif name == "pih_risk":
            kind = "text"
        else:
            raise ValueError(f"{_CATALOGUE_FILE}: {where}.{name} is not a darker-skin field.")
        value, cited, note = _sourced_entry(entry, f"{where}.{name}", bibliography, kind)
        values[name] = value
        sources[f"darker_skin.{name}"] = cited
        if note:
            notes[f"darker_skin.{name}"] = note
    return DarkerSkin(**values)


def _parse_treatment(key: str, table: dict, bibliography: Mapping[str, Reference]) -> Treatment:
    where = f"treatments.{key}"
    if not _KEY_PATTERN.match(key):
        raise ValueError(f"{_CATALOGUE_FILE}: treatment key {key!r} is not lower_snake_case.")
    values: dict[str, Any] = {"key": key}
    sources: dict[str, tuple[str, ...]] = {}
    notes: dict[str, str] = {}
    for name, entry in table.items():
        if name in ("name", "ablative"):
            values[name] = entry
        elif name == "darker_skin":
            values[name] = _parse_darker_skin(entry, f"{where}.darker_skin", bibliography, sources, notes)
        elif name in _NUMBER_FIELDS or name in _TEXT_FIELDS:
            kind = "text" if name in _TEXT_FIELDS else "value"
            value, cited, note = _sourced_entry(entry, f"{where}.{name}", bibliography, kind)
            if name in _INT_FIELDS and not isinstance(value, int):
                raise ValueError(f"{_CATALOGUE_FILE}: {where}.{name} must be a whole number.")
            values[name] = value
            sources[name] = cited
            if note:
                notes[name] = note
        else:
            raise ValueError(f"{_CATALOGUE_FILE}: {where}.{name} is not a treatment field.")
    try:
        treatment = Treatment(**values, sources=MappingProxyType(sources), notes=MappingProxyType(notes))
    except TypeError as error:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} is incomplete ({error}).") from None
    _check_course_order(treatment, where)
    if treatment.darker_skin is not None:
        _check_course_order(adjusted_for_skin_type(treatment, treatment.darker_skin.from_fitzpatrick), where)
    return treatment


def _check_course_order(treatment: Treatment, where: str) -> None:
    # The band construction in tracker.recovery.course relies on these orderings.
    t = treatment
    redness = (t.peak_day, t.resolution_day_low, t.resolution_day_typical, t.resolution_day_high, t.review_after_day)
    if not (0 <= t.onset_day <= t.peak_day < t.resolution_day_low <= redness[2] <= redness[3] <= redness[4]):
        raise ValueError(
            f"{_CATALOGUE_FILE}: {where} needs onset <= peak < resolution low <= typical <= high"
            f" <= review limit, got {(t.onset_day, *redness)}."
        )
    texture = (
        t.texture_visible_day_low,
        t.texture_visible_day_high,
        t.texture_plateau_day_low,
        t.texture_plateau_day_high,
    )
    if any(v is not None for v in texture) and not (
        None not in texture and 0 <= texture[0] <= texture[1] < texture[2] <= texture[3]
    ):
        raise ValueError(
            f"{_CATALOGUE_FILE}: {where} needs all four texture days with visible low <= high"
            f" < plateau low <= high, got {texture}."
        )
    if not 1 <= t.sessions_low <= t.sessions_high:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} needs 1 <= sessions_low <= sessions_high.")


def _load() -> tuple[Mapping[str, Reference], ReviewWindows, Mapping[str, Treatment]]:
    text = resources.files(__package__).joinpath(_CATALOGUE_FILE).read_text(encoding="utf-8")
    data = tomllib.loads(text)
    bibliography = MappingProxyType(
        {key: Reference(key=key, **entry) for key, entry in data["bibliography"].items()}
    )
    window_values: dict[str, float] = {}
    window_sources: dict[str, tuple[str, ...]] = {}
    for name, entry in data["review_windows"].items():
        value, cited, _ = _sourced_entry(entry, f"review_windows.{name}", bibliography, "value")
        window_values[name] = value
        window_sources[name] = cited
    windows = ReviewWindows(**window_values, sources=MappingProxyType(window_sources))
    treatments = MappingProxyType(
        {key: _parse_treatment(key, table, bibliography) for key, table in data["treatments"].items()}
    )
    return bibliography, windows, treatments


def fitzpatrick_type(skin_type: int | str | None) -> int | None:
    """Read a Fitzpatrick skin type given as 1-6, ``"4"`` or a Roman numeral ``"IV"``.

    Parameters
    ----------
    skin_type : int, str or None
        The provider-recorded Fitzpatrick type; None when unknown.

    Returns
    -------
    int or None
        The type as an integer 1-6, or None when unknown.

    Raises
    ------
    ValueError
        If the value is not a Fitzpatrick type.

    Notes
    -----
    ITA° categories (Chardon 1991; Del Bino 2006) are not translated into Fitzpatrick types:
    ITA° measures constitutive colour, the Fitzpatrick type the skin's response to sun, and
    the sources give no validated mapping between them.
    """
    if skin_type is None:
        return None
    if isinstance(skin_type, str):
        text = skin_type.strip().upper()
        number = _ROMAN_FITZPATRICK.get(text) or (int(text) if text.isdigit() else None)
    elif isinstance(skin_type, int) and not isinstance(skin_type, bool):
        number = skin_type
    else:
        number = None
    if number is None or not 1 <= number <= 6:
        raise ValueError(f"Skin type {skin_type!r} is not a Fitzpatrick type; use 1-6 or I-VI.")
    return number


def adjusted_for_skin_type(treatment: Treatment, skin_type: int | str | None) -> Treatment:
    """Return the treatment with its darker-skin values applied when they concern this skin.

    Parameters
    ----------
    treatment : Treatment
        A catalogue entry.
    skin_type : int, str or None
        Fitzpatrick type (see :func:`fitzpatrick_type`); None leaves the entry unchanged.

    Returns
    -------
    Treatment
        The same entry, or a copy whose redness course uses the darker-skin values and whose
        ``pih_risk`` is the darker-skin text.
    """
    number = fitzpatrick_type(skin_type)
    darker = treatment.darker_skin
    if number is None or darker is None or number < darker.from_fitzpatrick:
        return treatment
    overrides = {
        name: getattr(darker, name)
        for name in ("resolution_day_typical", "resolution_day_high", "review_after_day")
        if getattr(darker, name) is not None
    }
    sources = dict(treatment.sources)
    sources.update({name: treatment.sources[f"darker_skin.{name}"] for name in overrides})
    sources["pih_risk"] = treatment.sources["darker_skin.pih_risk"]
    return replace(treatment, **overrides, pih_risk=darker.pih_risk, sources=MappingProxyType(sources))


BIBLIOGRAPHY, REVIEW_WINDOWS, TREATMENTS = _load()
"""Read-only catalogue: citation key -> :class:`Reference`, the review windows, and treatment
key -> :class:`Treatment`."""


def treatment_keys() -> tuple[str, ...]:
    """Return the catalogue's treatment keys in catalogue order (for ``tracker treatments``)."""
    return tuple(TREATMENTS)


def get_treatment(key: str) -> Treatment:
    """Look a treatment up by key.

    Parameters
    ----------
    key : str
        A catalogue key such as ``"fractional_co2"``.

    Returns
    -------
    Treatment

    Raises
    ------
    UnknownTreatmentError
        A :class:`KeyError` (and :class:`ValueError`) whose message lists the known keys.
    """
    try:
        return TREATMENTS[key]
    except (KeyError, TypeError):
        raise UnknownTreatmentError(
            f"Unknown treatment {key!r}; the catalogue has: {', '.join(TREATMENTS)}."
        ) from None


def cite(treatment: Treatment, *field_names: str) -> str:
    """Join the sources of the given fields, each once, in order: ``"Graber 2008; Ko 2007"``."""
    keys: list[str] = []
    for name in field_names:
        keys.extend(k for k in treatment.sources.get(name, ()) if k not in keys)
    return "; ".join(keys)


def _days(value: float) -> str:
    if value < 1:
        return "under a day"
    return f"{value:g} day" if value == 1 else f"{value:g} days"


def day_range(low: float, high: float, unit: str = "") -> str:
    """``"30"`` when both ends agree, else ``"60-90"`` (with an optional unit)."""
    return f"{low:g}{unit}" if low == high else f"{low:g}-{high:g}{unit}"


def describe_treatment(key: str) -> str:
    """One plain-language paragraph on what to expect after a treatment, for ``tracker treatments``.

    Parameters
    ----------
    key : str
        A catalogue key.

    Returns
    -------
    str
        The typical course (redness, wound milestones, texture, sessions, darkening risk),
        when to contact the provider, and the sources.

    Examples
    --------
    >>> describe_treatment("ipl").startswith("Intense pulsed light (IPL).")
    True
    """
    t = get_treatment(key)
    parts = [f"{t.name}."]
    if t.onset_day > 0:
        parts.append(
            f"Redness becomes visible around day {t.onset_day:g}, is strongest around day"
            f" {t.peak_day:g} and usually fades by day {day_range(t.resolution_day_low, t.resolution_day_typical)}"
            f" (up to day {t.resolution_day_high:g})."
        )
    else:
        parts.append(
            f"Redness usually fades within {_days(t.resolution_day_typical)}"
            f" (from {_days(t.resolution_day_low)} up to {_days(t.resolution_day_high)})."
        )
    milestones = []
    if t.ooze_until_day is not None:
        milestones.append(f"oozing up to day {t.ooze_until_day:g}")
    if t.crust_until_day is not None:
        start = f"from day {t.crust_from_day:g} " if t.crust_from_day is not None else ""
        milestones.append(f"crusting or flaking {start}until about day {t.crust_until_day:g}")
    if t.swelling_until_day is not None:
        milestones.append(f"swelling up to day {t.swelling_until_day:g}")
    if t.skin_closed_day_high is not None:
        milestones.append(f"skin closed by day {day_range(t.skin_closed_day_low, t.skin_closed_day_high)}")
    if milestones:
        parts.append("Expect " + ", ".join(milestones) + ".")
    if t.texture_visible_day_low is not None:
        parts.append(
            f"Texture gains usually show from day {day_range(t.texture_visible_day_low, t.texture_visible_day_high)}"
            f" and level off by day {day_range(t.texture_plateau_day_low, t.texture_plateau_day_high)}"
            " after the last session."
        )
    elif t.texture_note is not None:
        parts.append(t.texture_note)
    interval = ""
    if t.interval_weeks_high is not None:
        interval = f", {day_range(t.interval_weeks_low, t.interval_weeks_high)} weeks apart"
    elif t.interval_weeks_low is not None:
        interval = f"; at least {t.interval_weeks_low:g} weeks before repeating"
    count = day_range(t.sessions_low, t.sessions_high)
    parts.append(f"Usually {count} session{'s' if t.sessions_high > 1 else ''}{interval}.")
    parts.append(t.pih_risk)
    if t.darker_skin is not None:
        darker = _ROMAN_BY_NUMBER[t.darker_skin.from_fitzpatrick]
        parts.append(f"For Fitzpatrick {darker} and darker skin: {t.darker_skin.pih_risk}")
    contact = f"Contact your provider if redness is still clearly visible after day {t.review_after_day:g}"
    if t.rising_review_after_day is not None:
        contact += f" or is increasing after day {t.rising_review_after_day:g}"
    if t.open_area_review_after_day is not None:
        contact += f", if any area is still open or oozing after day {t.open_area_review_after_day:g}"
    parts.append(contact + ", or if the treated skin turns darker or lighter than before treatment.")
    parts.append("These are typical courses from the literature, not a diagnosis.")
    all_sources = cite(t, *t.sources)
    parts.append(f"Sources: {all_sources}.")
    return " ".join(parts)
