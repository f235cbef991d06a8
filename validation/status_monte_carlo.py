"""False alarms and detection of the recovery status, by Monte Carlo over simulated courses.

Every treatment in the catalogue gets simulated patients whose true redness follows the
model's own curve (``tracker.recovery.course.redness_fraction``) with a resolution day drawn
from the catalogue band (log-normal through its 5th and 95th percentiles, skin type drawn
too, so darker-skin bands are exercised), photographed on a realistic schedule (some photos
missed, later days a day early or late, a pre-treatment photo the day before), each photo
with the photo noise of ``validation/photo_noise.py``: Δa* and the redness-corrected pigment
``melanin_takiwaki`` get independent normal noise of SD
:data:`~tracker.recovery.course.PHOTO_NOISE_SD_DELTA_A` and
:data:`~tracker.recovery.course.PHOTO_NOISE_SD_MELANIN`, the baseline photo included.

Typical courses: a ``review`` is false unless the truth warrants it, i.e. true redness above
the resolved level on a photo after the review limit (such courses are counted apart). The
status is read at the end of the schedule and, for "ever", after every photo as the patient
would have seen it. The pigment of these courses never changes, so every ``darkening_one_photo``
note on them (one photo darker than before treatment: "take another in about a week") is a
false one; its rate is counted the same two ways.

Rebounds: the same courses, but from a random photo after the peak on (leaving at least three
photos after it), redness rises to 4 a* units above its lowest true value so far and stays
there; the same again for 6 units. "Caught after k" is the share of rebounds for which
``redness_rebound`` fires on the look at the k-th photo that shows the rise; "by the end" the
share for which it fired at any look up to the last photo of the schedule, the rise persisting.

``--noise-sd`` simulates photos with another noise than the model assumes (its thresholds do
not change). ``--model-noise-sd`` is a what-if: the model is run as if its photo noise constants
(Δa*, and pigment in proportion) were that value, so every threshold scales with it; with the
same ``--noise-sd`` it shows what less noisy photos, measured as such, would buy.

Run from the repository root (about 4 minutes on two cores)::

    uv run python validation/status_monte_carlo.py

``simulate_rates`` is imported by ``tests/test_recovery_cases.py`` for a small seeded run.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields

import numpy as np

from tracker.recovery import assessment as _assessment
from tracker.recovery import course as _course
from tracker.recovery import fit as _fit
from tracker.recovery import (
    PHOTO_NOISE_SD_DELTA_A,
    PHOTO_NOISE_SD_MELANIN,
    RESOLVED_DELTA_A,
    TREATMENTS,
    adjusted_for_skin_type,
    assess_course,
)
from tracker.recovery.course import BAND_Z

REBOUND_SIZES = (4.0, 6.0)
"""Sizes of the simulated rebound above the lowest true redness so far (a* units)."""

SCHEDULES = {
    "fully_ablative_co2": (2, 5, 9, 14, 21, 30, 45, 60, 90, 120, 150, 200),
    "fractional_co2": (1, 2, 4, 7, 10, 14, 21, 28, 42),
    "fully_ablative_erbium": (1, 3, 7, 10, 14, 21, 28, 42, 60, 90),
    "fractional_erbium": (1, 2, 3, 5, 7, 10, 14, 21),
    "non_ablative_fractional": (1, 2, 3, 5, 7, 10, 14),
    "thulium_1927": (1, 2, 4, 7, 10, 14, 21),
    "ipl": (1, 2, 3, 5, 7, 10),
    "skin_tightening": (1, 2, 3, 7, 14),
}
"""Days after the session a patient is asked to photograph, per treatment."""

KEEP_PHOTO = 0.85
"""Chance that a patient takes each scheduled photo."""


@dataclass
class Rates:
    """Counts for one treatment (or all), turned into rates by :meth:`rate`."""

    courses: int = 0
    late_red: int = 0
    false_review_end: int = 0
    false_review_ever: int = 0
    check_photos_end: int = 0
    darkening_note_end: int = 0
    darkening_note_ever: int = 0
    rebounds: int = 0
    caught: dict[float, list[int]] = field(default_factory=lambda: {size: [0, 0, 0, 0] for size in REBOUND_SIZES})

    def add(self, other: Rates) -> None:
        for name in (f.name for f in fields(self) if f.type == "int"):  # every count
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.caught = {size: [a + b for a, b in zip(self.caught[size], other.caught[size])] for size in REBOUND_SIZES}

    @property
    def typical(self) -> int:
        return self.courses - self.late_red

    def rate(self, name: str) -> float:
        denominator = self.typical if name.startswith(("false", "darkening")) else self.courses
        return getattr(self, name) / max(denominator, 1)

    def caught_rate(self, size: float, photos: int | None) -> float:
        """Share of rebounds of ``size`` caught once ``photos`` photos show them (None: by the schedule's end)."""
        return self.caught[size][3 if photos is None else photos - 1] / max(self.rebounds, 1)


def _true_course(key: str, skin_type: int, rng: np.random.Generator, days: np.ndarray) -> tuple[np.ndarray, object]:
    """True Δa* of one simulated patient on ``days`` (since the session), and their catalogue entry."""
    entry = adjusted_for_skin_type(TREATMENTS[key], skin_type)
    peak = entry.peak_day
    low, high = np.log(entry.resolution_day_low - peak), np.log(entry.resolution_day_high - peak)
    span = np.exp(rng.normal((low + high) / 2, (high - low) / (2 * BAND_Z)))
    amplitude = rng.uniform(6.0, 14.0) if entry.ablative else rng.uniform(3.0, 8.0)
    fraction = (RESOLVED_DELTA_A / amplitude) ** (np.clip(days - peak, 0.0, None) / span)
    return amplitude * fraction, entry


def _schedule(key: str, rng: np.random.Generator) -> np.ndarray:
    days = np.array(SCHEDULES[key], dtype=float)
    days = days[rng.random(days.size) < KEEP_PHOTO]
    jitter = np.where(days >= 7, rng.integers(-1, 2, days.size), 0)
    return np.unique(days + jitter)


def _assess(key: str, skin_type: int, days: np.ndarray, excess: np.ndarray, melanin: np.ndarray):
    return assess_course(
        key, days=[-1.0, *days], redness_delta_a=[0.0, *excess], melanin_corrected=list(melanin), skin_type=skin_type
    )


def _fired(assessment, rule: str) -> bool:
    return any(s.rule == rule for s in assessment.signals)


def _rebound_rule(assessment) -> bool:
    return _fired(assessment, "redness_rebound")


def _use_model_noise(sd: float) -> None:
    """Run the model as if its photo noise were ``sd`` (a what-if; see the module notes)."""
    scale = sd / PHOTO_NOISE_SD_DELTA_A
    for module in (_course, _assessment, _fit):
        module.PHOTO_NOISE_SD_DELTA_A = sd
        if hasattr(module, "PHOTO_NOISE_SD_MELANIN"):
            module.PHOTO_NOISE_SD_MELANIN = PHOTO_NOISE_SD_MELANIN * scale
    _course.CLEAR_CHANGE_DELTA_A = _course.CLEAR_Z * sd


def simulate_treatment(
    key: str, courses: int, seed: int, noise_sd: float = PHOTO_NOISE_SD_DELTA_A, track_ever: bool = True,
    model_noise_sd: float = PHOTO_NOISE_SD_DELTA_A,
) -> Rates:
    """Simulate ``courses`` typical and rebounding courses of one treatment.

    ``track_ever`` False skips reading the status after every photo (the "ever" rate stays 0).
    """
    if model_noise_sd != PHOTO_NOISE_SD_DELTA_A:
        _use_model_noise(model_noise_sd)
    rng = np.random.default_rng(seed)
    rates = Rates()
    sd, sd_melanin = noise_sd, PHOTO_NOISE_SD_MELANIN * noise_sd / PHOTO_NOISE_SD_DELTA_A
    while rates.courses < courses:
        days = _schedule(key, rng)
        if days.size < 2:
            continue
        skin_type = int(rng.integers(1, 7))
        truth, entry = _true_course(key, skin_type, rng, days)
        noise = rng.normal(0.0, sd, days.size) - rng.normal(0.0, sd)  # each photo's, less the baseline's
        melanin = rng.normal(0.0, sd_melanin, days.size + 1)  # baseline first; redness does not move it
        excess = truth + noise
        rates.courses += 1
        late = days > entry.review_after_day
        if np.any(truth[late] > RESOLVED_DELTA_A):
            rates.late_red += 1
        else:
            ends = range(1, days.size + 1) if track_ever else [days.size]
            looks = [_assess(key, skin_type, days[:n], excess[:n], melanin[: n + 1]) for n in ends]
            statuses = [a.status for a in looks]
            rates.false_review_end += statuses[-1] == "review"
            rates.false_review_ever += "review" in statuses
            notes = [_fired(a, "darkening_one_photo") for a in looks]
            rates.darkening_note_end += notes[-1]
            rates.darkening_note_ever += any(notes)
        final = _assess(key, skin_type, days, excess, melanin)
        rates.check_photos_end += final.status == "check_photos"

        after_peak = np.flatnonzero(days >= entry.peak_day)
        if after_peak.size < 4:
            continue
        onset = int(rng.choice(after_peak[1:-2]))
        lowest = truth[:onset][days[:onset] >= entry.peak_day].min()
        rates.rebounds += 1
        for size in REBOUND_SIZES:
            observed = np.where(np.arange(days.size) >= onset, np.maximum(truth, lowest + size), truth) + noise
            fired = [_rebound_rule(_assess(key, skin_type, days[:n], observed[:n], melanin[: n + 1]))
                     for n in range(onset + 1, days.size + 1)]
            for shown in range(3):
                rates.caught[size][shown] += fired[shown]
            rates.caught[size][3] += any(fired)
    return rates


def simulate_rates(
    courses_per_treatment: int, seed: int = 12, noise_sd: float = PHOTO_NOISE_SD_DELTA_A, jobs: int = 1,
    track_ever: bool = True, model_noise_sd: float = PHOTO_NOISE_SD_DELTA_A,
) -> dict[str, Rates]:
    """Rates per treatment and over all (key ``"all"``), from one seeded run."""
    if model_noise_sd != PHOTO_NOISE_SD_DELTA_A and jobs <= 1:
        raise ValueError("The what-if model noise changes module constants: run it in worker processes (jobs > 1).")
    keys = list(SCHEDULES)
    seeds = [seed * 1000 + i for i in range(len(keys))]
    n = len(keys)
    args = (keys, [courses_per_treatment] * n, seeds, [noise_sd] * n, [track_ever] * n, [model_noise_sd] * n)
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(simulate_treatment, *args))
    else:
        results = list(map(simulate_treatment, *args))
    out = dict(zip(keys, results))
    total = Rates()
    for rates in out.values():
        total.add(rates)
    out["all"] = total
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--courses", type=int, default=300, help="simulated courses per treatment (default 300)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--noise-sd", type=float, default=PHOTO_NOISE_SD_DELTA_A,
                        help="Δa* noise of the simulated photos (default: the model's own)")
    parser.add_argument("--model-noise-sd", type=float, default=PHOTO_NOISE_SD_DELTA_A,
                        help="what-if: run the model as if its Δa* photo noise were this (default: its own)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rates = simulate_rates(args.courses, args.seed, args.noise_sd, max(args.jobs, 2)
                           if args.model_noise_sd != PHOTO_NOISE_SD_DELTA_A else args.jobs,
                           model_noise_sd=args.model_noise_sd)
    print(f"Simulated photo noise: Δa* SD {args.noise_sd:g}, melanin_takiwaki SD"
          f" {PHOTO_NOISE_SD_MELANIN * args.noise_sd / PHOTO_NOISE_SD_DELTA_A:.2g}; model noise"
          f" {args.model_noise_sd:g}; {args.courses} courses per treatment, seed {args.seed}.")
    sizes = " | ".join(f"+{size:g} rebound caught after 1 / 2 / 3 photos / by the end" for size in REBOUND_SIZES)
    print(f"| treatment | typical courses | false review (end) | false review (ever) | check_photos (end)"
          f" | darkening note, none true (end / ever) | {sizes} |")
    print("|---|---|---|---|---|---|" + "---|" * len(REBOUND_SIZES))
    for key, r in rates.items():
        caught = " | ".join(" / ".join(f"{r.caught_rate(size, k):.0%}" for k in (1, 2, 3, None))
                            for size in REBOUND_SIZES)
        print(f"| {key} | {r.typical} (+{r.late_red} truly red past the review limit)"
              f" | {r.rate('false_review_end'):.1%} | {r.rate('false_review_ever'):.1%}"
              f" | {r.rate('check_photos_end'):.1%}"
              f" | {r.rate('darkening_note_end'):.1%} / {r.rate('darkening_note_ever'):.1%} | {caught} |")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
