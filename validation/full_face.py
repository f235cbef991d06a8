"""Measurement in hard cases: the figures recorded in VALIDITY.md, "Measurement in hard cases:
full face and side light".

Series are close-ups cut from the astronaut portrait (``tracker.analysis.simulate.close_up``:
the face fills 58 % of the frame, with some hair, background and collar), enlarged to 768 px,
each photo with a small camera move (±4°, ±5 % scale, ±2 % shift), a light change (exposure
-25…+5 %, white balance ±8 %, gamma ±12 %), sensor noise and JPEG 85.

1. **Full face treated**: all facial skin reddened by 0-12 a* (with ΔL* = -0.74 Δa*), with even
   light and with light rising 40 % across the frame toward a random side. Per configuration:
   slope and R² of the cheek's a* rise over the baseline on the true rise, as measured with
   ``treated="region"`` (the old assumption: skin outside the region is untreated) and with
   ``treated="face"`` (the default).
2. **Light from one side**: only the cheek reddened, the other cheek the control, a 40 % ramp
   toward a random side; the error of ROI-minus-control Δa* over the baseline's against the truth,
   with one gain per channel (before) and with a gain plane (now).
3. **Tight close-up**: cheek and nose only (no surroundings), whole face reddened: how many photos
   are refused ("colour could not be normalised") rather than measured.

    uv run python validation/full_face.py [--photos 12] [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse

import numpy as np
from skimage import data

from tracker.analysis import AnalysisConfig, analyse_baseline, analyse_photo, prepare_baseline
from tracker.analysis import simulate as sim

SIDE = 768
TIGHT_CROP = (185, 105, 50, 55)


def line(true, measured) -> tuple[float, float]:
    return float(np.polyfit(true, measured, 1)[0]), float(np.corrcoef(true, measured)[0, 1] ** 2)


def full_face(close_up: sim.CloseUp, photos: int, seed: int, side_light: float) -> dict[str, tuple]:
    roi = close_up.boxes["cheek"]
    series = sim.full_face_series(close_up.rgb, close_up.face, photos, np.random.default_rng(seed),
                                  boxes={"roi": roi}, side_light=side_light)
    out = {}
    for treated in ("region", "face"):
        baseline = prepare_baseline(close_up.rgb, roi, config=AnalysisConfig(treated=treated))
        before = analyse_baseline(baseline).metrics["redness_a"]
        results = [analyse_photo(p.rgb, baseline) for p in series]
        kept = [(p.true_delta_a["roi"], r.metrics["redness_a"] - before) for p, r in zip(series, results)
                if r.colour.method != "none"]
        true, measured = np.array(kept).T
        out[treated] = (*line(true, measured), float(np.abs(measured - true).max()), len(series) - len(kept))
        if treated == "face":
            areas = [(p.true_delta_a["roi"], r.metrics["erythema_area_fraction"]) for p, r in zip(series, results)
                     if r.colour.method != "none"]
    return out, areas


def side_light(close_up: sim.CloseUp, photos: int, seed: int) -> dict[str, np.ndarray]:
    roi, control = close_up.boxes["cheek"], close_up.boxes["other_cheek"]
    cheek = np.zeros(close_up.face.shape, bool)
    x, y, w, h = roi
    cheek[y:y + h, x:x + w] = True
    series = sim.full_face_series(close_up.rgb, cheek, photos, np.random.default_rng(seed), boxes={"roi": roi},
                                  side_light=0.4)
    out = {}
    for treated in ("region", "face"):
        for smooth in (False, True):
            baseline = prepare_baseline(close_up.rgb, roi, control, AnalysisConfig(treated=treated, smooth_light=smooth))
            before = analyse_baseline(baseline).metrics["redness_delta_a"]
            out[treated, smooth] = np.array([analyse_photo(p.rgb, baseline).metrics["redness_delta_a"] - before
                                             - p.true_delta_a["roi"] for p in series])
    return out


def tight(photos: int, seed: int) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    close = sim.close_up(data.astronaut(), TIGHT_CROP, SIDE, rng, boxes={"roi": (200, 115, 20, 20)})
    baseline = prepare_baseline(close.rgb, close.boxes["roi"])
    series = sim.full_face_series(close.rgb, close.face, photos, rng)
    refused = sum(analyse_photo(p.rgb, baseline).colour.method == "none" for p in series)
    return refused, photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    close_up = sim.close_up(data.astronaut(), side=SIDE, rng=np.random.default_rng(2))
    print(f"close-up {close_up.rgb.shape[1]}x{close_up.rgb.shape[0]}, facial skin {close_up.face.mean():.0%} "
          f"of the frame; {args.photos} photos per seed, seeds {args.seeds}")

    print("\n1. Full face treated: cheek a* rise on the true rise (slope, R², largest error, refused)")
    areas = []
    for light in (0.0, 0.4):
        for seed in args.seeds:
            r, area = full_face(close_up, args.photos, seed, light)
            areas += area
            cells = "   ".join(f"{t:>6}: slope {s:5.2f} R² {q:4.2f} max err {e:4.1f} refused {n}"
                               for t, (s, q, e, n) in r.items())
            print(f"  {'side light 40 %' if light else 'even light     '} seed {seed}: {cells}")
    true, share = np.array(areas).T
    print("   erythema_area_fraction of the cheek (treated=face; the whole region reddened by the true rise,"
          " threshold 3 a*):")
    for low, high, truth in ((0, 1, 0.0), (1, 2.5, 0.0), (2.5, 4, None), (4, 6, 1.0), (6, 13, 1.0)):
        sel = (true >= low) & (true < high)
        if sel.any():
            said = f"truth {truth:.0f}" if truth is not None else "near the threshold"
            print(f"     true rise {low:>4}-{high:<4} a* ({said}): n={sel.sum():2d} median {np.median(share[sel]):.3f} "
                  f"range {share[sel].min():.3f}-{share[sel].max():.3f}")

    print("\n2. Light from one side (40 % ramp, random direction): |ROI-minus-control Δa* error|, a* units")
    errors: dict = {}
    for seed in args.seeds:
        for key, e in side_light(close_up, args.photos, seed).items():
            errors.setdefault(key, []).extend(np.abs(e))
    for (treated, smooth), e in errors.items():
        print(f"  treated={treated:<6} {'gain plane  ' if smooth else 'one gain    '} "
              f"median {np.median(e):4.2f}  95th pct {np.percentile(e, 95):4.2f}  max {np.max(e):4.2f}  (n={len(e)})")

    print("\n3. Tight close-up of treated skin, no chart: photos refused (colour could not be normalised)")
    for seed in args.seeds:
        refused, n = tight(args.photos, seed)
        print(f"  seed {seed}: {refused}/{n}")


if __name__ == "__main__":
    main()
