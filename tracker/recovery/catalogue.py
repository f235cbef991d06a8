"""Treatment catalogue: the expected healing course of each laser or light treatment.

The numbers live in ``treatments.toml`` beside this module (shipped in the wheel and read
with :mod:`importlib.resources`); this module turns them into frozen :class:`Treatment`
records and refuses a file in which any number lacks a source.

Notes
-----
Days are counted from the treatment session, day 0 being the day of treatment.

How long redness lasts is stored as the statistics the sources publish (a range of n
patients, a mean, a median, a percentile), never as band edges, and the band is derived from
them: each source's statistics fix a log-normal distribution of the resolution day (counted
from the peak day), and the band's edges are its 5th and 95th percentiles and its median.
A range of n patients spans about the 1/(n+1) to n/(n+1) quantiles (the expected quantiles
of the smallest and largest of n draws). A source giving a single statistic takes its spread
from ``redness_log_sd``, which names where that spread comes from. Where sources disagree the
band is the union of their 5-95 % ranges instead of a pick (fully ablative CO2: gone by day
60-90 in Trelles 1998 against a 4.5-month *mean* in Nanni & Alster 1998). Figures that no
source ties to a statistic, or that come from another device (``proxy``), are estimates and
:attr:`Treatment.estimates` names them so that the text people see says so; figures the
project's literature summary gives without a primary study cite ``"Clinical timelines notes"``.

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
from statistics import NormalDist
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.optimize import least_squares

__all__ = [
    "BIBLIOGRAPHY",
    "REVIEW_WINDOWS",
    "TREATMENTS",
    "DarkerSkin",
    "DurationStatistic",
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


_STATISTICS = ("range", "mean", "median", "percentile", "estimate_range", "central_estimate")
_ESTIMATED_STATISTICS = frozenset({"estimate_range", "central_estimate"})
# The standard normal quantile (Wichura's AS 241; scipy.stats' norm.ppf agrees to 2e-15): the
# standard library's, since importing scipy.stats took 1 s of every process that reads the catalogue.
_z = NormalDist().inv_cdf
_Z95 = _z(0.95)


@dataclass(frozen=True)
class DurationStatistic:
    """One published statistic of how long redness lasts after a treatment.

    Attributes
    ----------
    statistic : str
        ``"range"`` (``low``-``high`` of ``n`` patients), ``"mean"``, ``"median"``,
        ``"percentile"`` (``value`` is the day by which ``percentile`` % had resolved),
        ``"estimate_range"`` (a typical range no source ties to a statistic, read as the 5th
        and 95th percentiles) or ``"central_estimate"`` (a typical day, read as the median).
    sources : tuple of str
        Bibliography keys; statistics with the same sources describe one distribution.
    value, low, high : float or None
        Days since the session.
    n : int or None
        Patients behind a range (or a mean).
    percentile : float or None
        For ``"percentile"``: the share (0-100) resolved by ``value``.
    proxy : bool
        The figure was measured on another device or population.
    note : str or None
        How the figure was read from its source.
    """

    statistic: str
    sources: tuple[str, ...]
    value: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    percentile: float | None = None
    proxy: bool = False
    note: str | None = None

    @property
    def estimate(self) -> bool:
        """Whether the figure is an estimate rather than a statistic measured on this treatment."""
        return self.proxy or self.statistic in _ESTIMATED_STATISTICS

    def describe(self) -> str:
        """The statistic in a few words with its source, e.g. ``"mean 137 d (Nanni & Alster 1998)"``."""
        cited = "; ".join(self.sources)
        if self.statistic == "range":
            text = f"range {self.low:g}-{self.high:g} d in {self.n} patients"
        elif self.statistic == "estimate_range":
            text = f"typical range {self.low:g}-{self.high:g} d (estimate)"
        elif self.statistic == "percentile":
            text = f"{self.percentile:g}% resolved by day {self.value:g}"
        elif self.statistic == "central_estimate":
            text = f"typical day {self.value:g} (estimate)"
        else:
            text = f"{self.statistic} {self.value:g} d"
        return f"{text}{' (another device or population)' if self.proxy else ''} ({cited})"

    def equations(self, peak_day: float) -> list[tuple[float, float | None]]:
        """``(log(day - peak_day), z)`` per figure: z of its quantile, or None for a mean."""
        if self.statistic in ("range", "estimate_range"):
            q_low, q_high = (1 / (self.n + 1), self.n / (self.n + 1)) if self.statistic == "range" else (0.05, 0.95)
            return [(_log_span(self.low, peak_day), _z(q_low)),
                    (_log_span(self.high, peak_day), _z(q_high))]
        if self.statistic == "mean":
            return [(_log_span(self.value, peak_day), None)]
        q = self.percentile / 100 if self.statistic == "percentile" else 0.5
        return [(_log_span(self.value, peak_day), _z(q))]


def _log_span(day: float, peak_day: float) -> float:
    if day <= peak_day:
        raise ValueError(
            f"{_CATALOGUE_FILE}: a redness duration of {day:g} d does not exceed the peak day {peak_day:g}."
        )
    return float(np.log(day - peak_day))


@dataclass(frozen=True)
class DarkerSkin:
    """How darker skin changes a treatment's expected course.

    Attributes
    ----------
    from_fitzpatrick : int
        Lowest Fitzpatrick type (1-6) to which this adjustment applies.
    pih_risk : str
        Plain-language darkening (post-inflammatory hyperpigmentation) risk for darker skin.
    redness_duration : tuple of DurationStatistic
        Statistics for darker skin. Measured in darker skin on this device, they replace the
        treatment's own; borrowed from another device (all ``proxy``), they are added to them
        and the band covers both.
    review_after_day : float or None
        A review limit that replaces the treatment's own; None keeps it.
    """

    from_fitzpatrick: int
    pih_risk: str
    redness_duration: tuple[DurationStatistic, ...] = ()
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
        Day by which redness has faded, derived from ``redness_duration``: the 5th percentile,
        the median and the 95th percentile of the resolution day (module notes).
    review_after_day : float
        Review limit: redness still clearly visible after this day warrants provider review.
        A clinical rule, not a percentile; it may fall inside the band.
    redness_duration : tuple of DurationStatistic
        The published statistics the band is derived from.
    redness_log_sd : float or None
        Log-normal spread for sources that give a single statistic.
    universal_redness_until_day : float or None
        Every patient is visibly red up to this day after a session.
    pih_risk : str
        Plain-language risk of darkening (post-inflammatory hyperpigmentation).
    sessions_low, sessions_high : int
        Typical number of sessions in a series.
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
    photo_days : tuple of int
        Days after each session on which a photo is most useful: the project's suggestion, set
        where the expected course changes (:mod:`tracker.recovery.schedule`); an estimate.
    darker_skin : DarkerSkin or None
        Adjustment for darker skin types, where the sources describe one.
    texture_note : str or None
        Texture finding for treatments without a texture timeline.
    sources : Mapping[str, tuple of str]
        Bibliography keys per field name; darker-skin fields are ``"darker_skin.<field>"``.
    notes : Mapping[str, str]
        How a number was read from its source, where that needs saying.
    estimates : frozenset of str
        Fields whose value is an estimate (module notes); text shown to people says so.
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
    redness_duration: tuple[DurationStatistic, ...] = ()
    redness_log_sd: float | None = None
    universal_redness_until_day: float | None = None
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
    photo_days: tuple[int, ...] = ()
    darker_skin: DarkerSkin | None = None
    texture_note: str | None = None
    sources: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False, repr=False
    )
    notes: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False, repr=False
    )
    estimates: frozenset[str] = field(default=frozenset(), compare=False, hash=False, repr=False)

    def is_estimate(self, *field_names: str) -> bool:
        """Whether any of the fields is an estimate."""
        return any(name in self.estimates for name in field_names)


@dataclass(frozen=True)
class ReviewWindows:
    """Days since a session in which a colour change against baseline warrants review.

    Attributes
    ----------
    darkening_from_day : float
        Darkening is looked for from this day after the first session...
    darkening_until_day : float
        ...until this many days after the last session.
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
_BAND_FIELDS = ("resolution_day_low", "resolution_day_typical", "resolution_day_high")
_NUMBER_FIELDS = frozenset(
    f.name
    for f in fields(Treatment)
    if f.name not in {"key", "name", "ablative", "darker_skin", "sources", "notes", "estimates", "redness_duration",
                      "photo_days"}
) - _TEXT_FIELDS - set(_BAND_FIELDS)
_DARKER_SKIN_NUMBERS = frozenset({"from_fitzpatrick", "review_after_day"})
# What a number says about its source, where that is not self-evident: a review limit is a
# clinical rule read from a source on the same device, else an estimate; a spread is derived
# from a series of the same device, borrowed from another (proxy), or an estimate.
_STATISTIC_KINDS = {
    "review_after_day": ("review_limit", "estimate"),
    "redness_log_sd": ("derived", "proxy", "estimate"),
}


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


def _statistic_kind(name: str, entry: dict, where: str) -> str | None:
    """The ``statistic`` of a number entry, checked against what the field allows."""
    allowed = _STATISTIC_KINDS.get(name)
    kind = entry.get("statistic")
    if allowed is None:
        if kind is not None:
            raise ValueError(f"{_CATALOGUE_FILE}: {where} takes no statistic.")
        return None
    if kind not in allowed:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} needs statistic = one of {', '.join(allowed)}; got {kind!r}.")
    return kind


def _parse_durations(entries: Any, where: str, bibliography: Mapping[str, Reference]) -> tuple[DurationStatistic, ...]:
    needs = {
        "range": ("low", "high", "n"),
        "estimate_range": ("low", "high"),
        "percentile": ("value", "percentile"),
        "mean": ("value",),
        "median": ("value",),
        "central_estimate": ("value",),
    }
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} must be a list of statistics.")
    out = []
    for i, entry in enumerate(entries):
        here = f"{where}[{i}]"
        kind = entry.get("statistic") if isinstance(entry, dict) else None
        if kind not in needs:
            raise ValueError(f"{_CATALOGUE_FILE}: {here} needs statistic = one of {', '.join(_STATISTICS)}.")
        missing = [k for k in needs[kind] if k not in entry]
        if missing:
            raise ValueError(f"{_CATALOGUE_FILE}: {here} ({kind}) lacks {', '.join(missing)}.")
        _sourced_entry({**entry, "value": 0}, here, bibliography, "value")
        extra = set(entry) - {"statistic", "sources", "note", "proxy", "value", "low", "high", "n", "percentile"}
        if extra:
            raise ValueError(f"{_CATALOGUE_FILE}: {here} has unknown keys {sorted(extra)}.")
        out.append(DurationStatistic(
            statistic=kind, sources=tuple(entry["sources"]), value=entry.get("value"), low=entry.get("low"),
            high=entry.get("high"), n=entry.get("n"), percentile=entry.get("percentile"),
            proxy=bool(entry.get("proxy", False)), note=entry.get("note"),
        ))
    return tuple(out)


def _parse_photo_days(
    entry: Any, where: str, bibliography: Mapping[str, Reference]
) -> tuple[tuple[int, ...], tuple[str, ...], str]:
    """The suggested photo days: rising whole days after a session, sourced and explained."""
    days, sources, note = _sourced_entry(entry, where, bibliography, "days")
    if entry.get("statistic") != "estimate" or not note:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} is the project's suggestion: it needs statistic = \"estimate\""
                         " and a note saying where the course changes.")
    if (not isinstance(days, list) or not days or any(isinstance(d, bool) or not isinstance(d, int) for d in days)
            or days[0] < 1 or any(b <= a for a, b in zip(days, days[1:]))):
        raise ValueError(f"{_CATALOGUE_FILE}: {where} must be rising whole days from day 1, got {days!r}.")
    return tuple(days), sources, note


def _parse_darker_skin(
    table: dict, where: str, bibliography: Mapping[str, Reference], sources: dict, notes: dict, estimates: set
) -> DarkerSkin:
    values: dict[str, Any] = {}
    for name, entry in table.items():
        if name == "redness_duration":
            values[name] = _parse_durations(entry, f"{where}.{name}", bibliography)
            continue
        if name in _DARKER_SKIN_NUMBERS:
            kind = "value"
        elif name == "pih_risk":
            kind = "text"
        else:
            raise ValueError(f"{_CATALOGUE_FILE}: {where}.{name} is not a darker-skin field.")
        value, cited, note = _sourced_entry(entry, f"{where}.{name}", bibliography, kind)
        if kind == "value" and _statistic_kind(name, entry, f"{where}.{name}") == "estimate":
            estimates.add(f"darker_skin.{name}")
        values[name] = value
        sources[f"darker_skin.{name}"] = cited
        if note:
            notes[f"darker_skin.{name}"] = note
    return DarkerSkin(**values)


@dataclass(frozen=True)
class _SourceCourse:
    """The log-normal resolution day (counted from the peak) that one source's statistics fix."""

    statistics: tuple[DurationStatistic, ...]
    mu: float
    sd: float
    estimate: bool

    def day(self, z: float, peak_day: float) -> float:
        return peak_day + float(np.exp(self.mu + z * self.sd))

    def describe(self) -> str:
        return "; ".join(s.describe() for s in self.statistics)


def _source_course(
    statistics: Sequence[DurationStatistic], peak_day: float, log_sd: float | None, log_sd_estimate: bool, where: str
) -> _SourceCourse:
    equations = [eq for s in statistics for eq in s.equations(peak_day)]
    quantiles = [(y, z) for y, z in equations if z is not None]
    means = [y for y, z in equations if z is None]
    estimate = any(s.estimate for s in statistics)
    if len({round(z, 9) for _, z in quantiles}) >= 2 or (quantiles and means):
        def residuals(theta: np.ndarray) -> np.ndarray:
            mu, sd = theta
            return np.array([mu + z * sd - y for y, z in quantiles] + [mu + sd * sd / 2 - y for y in means])

        # The spread is bounded well below the second root of a mean-plus-percentile pair.
        start = [float(np.mean([y for y, _ in equations])), 0.5]
        mu, sd = least_squares(residuals, start, bounds=([-10.0, 1e-3], [20.0, 2.0])).x
        return _SourceCourse(tuple(statistics), float(mu), float(sd), estimate)
    if log_sd is None:
        raise ValueError(
            f"{_CATALOGUE_FILE}: {where} gives a single statistic for {'; '.join(statistics[0].sources)};"
            " it needs redness_log_sd to fix the spread."
        )
    centres = [y - z * log_sd for y, z in quantiles] + [y - log_sd * log_sd / 2 for y in means]
    return _SourceCourse(tuple(statistics), float(np.mean(centres)), log_sd, estimate or log_sd_estimate)


def _round_day(day: float) -> float:
    return float(round(day)) if day >= 10 else round(day, 1)


def _derived_band(
    statistics: Sequence[DurationStatistic], peak_day: float, log_sd: float | None, log_sd_estimate: bool,
    log_sd_sources: tuple[str, ...], where: str,
) -> tuple[dict[str, float], dict[str, tuple[str, ...]], dict[str, str], set[str]]:
    """Band edges (5th percentile, median, 95th percentile), their sources, notes and estimates."""
    groups: dict[tuple[str, ...], list[DurationStatistic]] = {}
    for s in statistics:
        groups.setdefault(s.sources, []).append(s)
    courses = [_source_course(g, peak_day, log_sd, log_sd_estimate, where) for g in groups.values()]
    early = min(courses, key=lambda c: c.day(-_Z95, peak_day))
    late = max(courses, key=lambda c: c.day(_Z95, peak_day))
    values = {
        "resolution_day_low": _round_day(early.day(-_Z95, peak_day)),
        "resolution_day_typical": _round_day(peak_day + float(np.exp(np.mean([c.mu for c in courses])))),
        "resolution_day_high": _round_day(late.day(_Z95, peak_day)),
    }
    if not values["resolution_day_low"] < values["resolution_day_high"]:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} gives a band without width.")

    def cited(chosen: Sequence[_SourceCourse]) -> tuple[str, ...]:
        keys: list[str] = []
        for course in chosen:
            borrowed = log_sd_sources if course.sd == log_sd else ()
            for key in (*(k for s in course.statistics for k in s.sources), *borrowed):
                if key not in keys:
                    keys.append(key)
        return tuple(keys)

    sources = {
        "resolution_day_low": cited([early]),
        "resolution_day_typical": cited(courses),
        "resolution_day_high": cited([late]),
    }
    spread = lambda c: f"log-normal SD {c.sd:.2f}" + (" borrowed" if c.sd == log_sd else " fitted")  # noqa: E731
    notes = {
        "resolution_day_low": f"5th percentile of the log-normal through {early.describe()} ({spread(early)})",
        "resolution_day_typical": "median: geometric mean of the sources' medians"
        if len(courses) > 1 else f"median of the log-normal through {early.describe()}",
        "resolution_day_high": f"95th percentile of the log-normal through {late.describe()} ({spread(late)})",
    }
    estimates = {name for name, chosen in
                 (("resolution_day_low", [early]), ("resolution_day_typical", courses), ("resolution_day_high", [late]))
                 if any(c.estimate for c in chosen)}
    return values, sources, notes, estimates


def _with_band(
    values: dict[str, Any], statistics: Sequence[DurationStatistic], sources: dict, notes: dict, estimates: set,
    where: str,
) -> None:
    """Fill the derived band of a treatment's values in place."""
    band, band_sources, band_notes, band_estimates = _derived_band(
        statistics, values["peak_day"], values.get("redness_log_sd"), "redness_log_sd" in estimates,
        sources.get("redness_log_sd", ()), where,
    )
    values.update(band)
    sources.update(band_sources)
    notes.update(band_notes)
    estimates.difference_update(_BAND_FIELDS)
    estimates.update(band_estimates)


def _parse_treatment(key: str, table: dict, bibliography: Mapping[str, Reference]) -> Treatment:
    where = f"treatments.{key}"
    if not _KEY_PATTERN.match(key):
        raise ValueError(f"{_CATALOGUE_FILE}: treatment key {key!r} is not lower_snake_case.")
    values: dict[str, Any] = {"key": key}
    sources: dict[str, tuple[str, ...]] = {}
    notes: dict[str, str] = {}
    estimates: set[str] = set()
    for name, entry in table.items():
        if name in ("name", "ablative"):
            values[name] = entry
        elif name == "darker_skin":
            values[name] = _parse_darker_skin(entry, f"{where}.darker_skin", bibliography, sources, notes, estimates)
        elif name == "redness_duration":
            values[name] = _parse_durations(entry, f"{where}.{name}", bibliography)
        elif name == "photo_days":
            values[name], sources[name], notes[name] = _parse_photo_days(entry, f"{where}.{name}", bibliography)
            estimates.add(name)
        elif name in _NUMBER_FIELDS or name in _TEXT_FIELDS:
            kind = "text" if name in _TEXT_FIELDS else "value"
            value, cited, note = _sourced_entry(entry, f"{where}.{name}", bibliography, kind)
            if name in _INT_FIELDS and not isinstance(value, int):
                raise ValueError(f"{_CATALOGUE_FILE}: {where}.{name} must be a whole number.")
            if kind == "value" and _statistic_kind(name, entry, f"{where}.{name}") in ("proxy", "estimate"):
                estimates.add(name)
            values[name] = value
            sources[name] = cited
            if note:
                notes[name] = note
        else:
            raise ValueError(f"{_CATALOGUE_FILE}: {where}.{name} is not a treatment field.")
    for required in ("peak_day", "redness_duration", "review_after_day"):
        if required not in values:
            raise ValueError(f"{_CATALOGUE_FILE}: {where} is incomplete (no {required}).")
    _with_band(values, values["redness_duration"], sources, notes, estimates, where)
    try:
        treatment = Treatment(
            **values, sources=MappingProxyType(sources), notes=MappingProxyType(notes), estimates=frozenset(estimates)
        )
    except TypeError as error:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} is incomplete ({error}).") from None
    _check_course_order(treatment, where)
    if treatment.darker_skin is not None:
        _check_course_order(adjusted_for_skin_type(treatment, treatment.darker_skin.from_fitzpatrick), where)
    return treatment


def _check_course_order(treatment: Treatment, where: str) -> None:
    # The band construction in tracker.recovery.course relies on these orderings.
    t = treatment
    redness = (t.peak_day, t.resolution_day_low, t.resolution_day_typical, t.resolution_day_high)
    if not (0 <= t.onset_day <= t.peak_day < t.resolution_day_low <= redness[2] <= redness[3]):
        raise ValueError(
            f"{_CATALOGUE_FILE}: {where} needs onset <= peak < resolution low <= typical <= high,"
            f" got {(t.onset_day, *redness)}."
        )
    if not t.peak_day < t.review_after_day:
        raise ValueError(f"{_CATALOGUE_FILE}: {where} needs its review limit after the peak day.")
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
    values: dict[str, Any] = {"peak_day": treatment.peak_day, "redness_log_sd": treatment.redness_log_sd}
    sources = dict(treatment.sources)
    notes = dict(treatment.notes)
    estimates = set(treatment.estimates)
    measured = any(not s.proxy for s in darker.redness_duration)
    statistics = darker.redness_duration if measured else (*treatment.redness_duration, *darker.redness_duration)
    _with_band(values, statistics, sources, notes, estimates, f"treatments.{treatment.key}.darker_skin")
    if darker.review_after_day is not None:
        values["review_after_day"] = darker.review_after_day
        sources["review_after_day"] = treatment.sources["darker_skin.review_after_day"]
        estimates.discard("review_after_day")
        if "darker_skin.review_after_day" in estimates:
            estimates.add("review_after_day")
    sources["pih_risk"] = treatment.sources["darker_skin.pih_risk"]
    values.pop("peak_day")
    values.pop("redness_log_sd")
    return replace(
        treatment, **values, pih_risk=darker.pih_risk, sources=MappingProxyType(sources),
        notes=MappingProxyType(notes), estimates=frozenset(estimates),
    )


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
        the suggested photo days, when to contact the provider, and the sources.

    Examples
    --------
    >>> describe_treatment("ipl").startswith("Intense pulsed light (IPL).")
    True
    """
    t = get_treatment(key)
    parts = [f"{t.name}."]
    band_estimate = "; an estimate" if t.is_estimate(*_BAND_FIELDS) else ""
    if t.onset_day > 0:
        parts.append(
            f"Redness becomes visible around day {t.onset_day:g}, is strongest around day"
            f" {t.peak_day:g} and usually fades by day {day_range(t.resolution_day_low, t.resolution_day_typical)}"
            f" (up to day {t.resolution_day_high:g} in 95 of 100 patients{band_estimate})."
        )
    else:
        parts.append(
            f"Redness usually fades within {_days(t.resolution_day_typical)}"
            f" (from {_days(t.resolution_day_low)} up to {_days(t.resolution_day_high)} in 90 of 100"
            f" patients{band_estimate})."
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
    if t.photo_days:
        parts.append(f"Photos are most useful on days {', '.join(map(str, t.photo_days))} after each session"
                     " (the project's suggestion, an estimate).")
    contact = f"Contact your provider if redness is still clearly visible after day {t.review_after_day:g}"
    if t.is_estimate("review_after_day"):
        contact += " (an estimate)"
    contact += " or comes back after fading"
    if t.open_area_review_after_day is not None:
        contact += f", if any area is still open or oozing after day {t.open_area_review_after_day:g}"
    parts.append(contact + ", or if the treated skin turns darker or lighter than before treatment.")
    parts.append("These are typical courses from the literature, not a diagnosis.")
    all_sources = cite(t, *t.sources)
    parts.append(f"Sources: {all_sources}.")
    return " ".join(parts)
