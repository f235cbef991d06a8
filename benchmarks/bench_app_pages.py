"""Server time of the app's two busiest pages: a provider's patient list and a patient's progress page.

Targets (from the requirements):

* the provider's patient list with 1,000 patients of 10 photos each renders in
  under 1.5 s of server time (cached metrics, no re-analysis on page load);
* a patient's progress page with 50 photos renders in under 1 s.

Both pages are run by Streamlit's ``AppTest`` on the real ``app.py``, signed in
with a real session token, against a temporary embedded store (SQLite + photo
folder):

1. **The clinic** (not timed against a target). 1,000 patients, each with one
   course of 10 photos, one provider assigned to all of them, are recorded
   through the one writer, ``tracker.services.record_photo`` (patients, courses
   with regions, sessions, and a tiny distinct PNG per photo: the list page
   never reads a photo).  Each photo's result is a copy of a real
   :class:`~tracker.analysis.AnalysisResult` (the demo sample photos are
   imported and analysed once into a scratch store) with the redness changed to
   follow typical, slow or rebounding courses, stored by
   ``tracker.services.analyses.save_result`` under the key the services compute
   (``analysis_key``); then every course summary is computed by
   ``tracker.services.analyses.store_summary``, as after an analysis.
2. **The 50-photo patient** (not timed against a target). One more patient
   (with a patient account, not assigned to the provider) gets a course of
   50 real JPEGs, 1024 x 768: a baseline the day before treatment and 49 daily
   follow-ups simulated from it (``tracker.analysis.simulate``: hand-held camera move,
   light change, the typical fractional-CO2 redness course, sensor noise),
   stored through ``tracker.services.add_photo`` and analysed by
   ``refresh_analyses``.  The JPEGs are cached in ``benchmarks/_work/``.
3. **Timed**: ``AppTest.run()`` of ``pages/patients.py`` as the provider and of
   ``pages/my_progress.py`` as the patient; one warm-up run, then the median
   of ``--runs`` runs.  The progress page is timed twice: with the decoded
   photos in the page's ``st.cache_data`` (a rerun, e.g. moving the slider)
   and with that cache cleared before every run (what opening the page costs
   the first time).  For reference the bare service calls are also timed.

The page runs are also watched for work they must not do: the patient list
must not fit a recovery curve (``course_progress``) or analyse a photo, the
progress page must not analyse a photo (it fits its one course on each load,
which is cheap).  Either is a failure like a missed time.

``AppTest.run()`` includes a little test-harness work outside the script
thread (parsing the page's messages); the time spent inside the script thread
is reported as well.  Use ``--profile`` for a cProfile of each page's script
thread (it is printed anyway for a page that misses its target).

Run::

    uv run python benchmarks/bench_app_pages.py            # --patients 1000 --photos 10 --progress-photos 50
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from sqlalchemy import select

from tracker import services as sv
from tracker.analysis import AnalysisResult
from tracker.analysis import simulate as sim
from tracker.recovery import expected_course
from tracker.services import analyses
from tracker.services.analyses import analysis_key, save_result, store_summary
from tracker.services.importer import read_manifest, run_import
from tracker.store.db import open_store
from tracker.store.models import Course, CourseSummary, Patient
from tracker.web.views import patient_list_frame

from common import WORK_DIR, machine, make_baseline, median_call

ROOT = Path(__file__).resolve().parent.parent
LIST_TARGET_S = 1.5
PROGRESS_TARGET_S = 1.0
PASSWORD = "benchmark-password"
TREATMENTS = ("fractional_co2", "non_ablative_fractional", "fractional_erbium", "thulium_1927", "ipl",
              "fully_ablative_erbium")
FOLLOW_UP_DAYS = (1, 2, 3, 5, 7, 10, 14, 21, 28, 35, 42, 56)


# --- real analysis results to copy ---------------------------------------------------------

def demo_templates(scratch: Path) -> dict[str, dict]:
    """Analyse the demo sample photos once; their results, regions and sizes by demo patient."""
    store = open_store(scratch)
    try:
        outcomes = run_import(store, read_manifest(ROOT / "sample_images" / "manifest.csv"))
        if any(o.status == "refused" for o in outcomes):
            raise SystemExit("the demo sample photos could not be imported")
        out = {}
        with store.session() as s:
            courses = s.scalars(select(Course)).all()
            patients = {c.id: s.get(Patient, c.patient_id).reference for c in courses}
        for course_id, reference in patients.items():
            detail = next(c for c in sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, reference))
                          .courses if c.id == course_id)
            points = detail.progress.points
            out[reference] = {
                "roi": detail.roi, "control": detail.control, "size": detail.baseline_size,
                "baseline": points[0].result,
                "good": [pt.result for pt in points[1:] if pt.ok and pt.quality_ok],
                "bad": [pt.result for pt in points[1:] if pt.ok and not pt.quality_ok],
            }
        return out
    finally:
        store.close()


def _with_redness(template: AnalysisResult, base: AnalysisResult, excess: float,
                  rng: np.random.Generator) -> AnalysisResult:
    """A copy of a follow-up result whose redness is the baseline's plus ``excess`` (a* units)."""
    m = dict(template.metrics)
    m["redness_delta_a"] = round(base.metric("redness_delta_a") + excess + float(rng.normal(0, 0.3)), 5)
    m["redness_a"] = round(base.metric("redness_a") + excess + float(rng.normal(0, 0.3)), 5)
    m["erythema_index"] = round(base.metric("erythema_index") + 1.2 * excess + float(rng.normal(0, 0.4)), 5)
    m["texture_contrast"] = round(base.metric("texture_contrast") * float(rng.uniform(0.85, 1.05)), 5)
    return AnalysisResult.from_dict({**template.to_dict(), "metrics": m})


def _tiny_png(number: int) -> bytes:
    """A distinct 16 x 16 PNG per number (the list page never reads a photo; each needs its own hash)."""
    pixels = np.zeros((16, 16, 3), np.uint8)
    pixels.reshape(-1)[:8] = np.frombuffer(number.to_bytes(8, "little"), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


# --- 1. the clinic: 1,000 patients x 10 photos, through the services ----------------------

def populate_clinic(store, templates: dict, patients: int, photos: int, seed: int = 7) -> dict:
    """Record the patients, courses and photos, store their results, then the course summaries."""
    rng = np.random.default_rng(seed)
    today = date.today()
    keys = sorted(templates)
    days = (-1,) + FOLLOW_UP_DAYS[: photos - 1]
    kinds = {"typical": 0, "slow": 0, "rebound": 0}
    timings = {"record_s": 0.0, "results_s": 0.0}
    photo_count = 0
    for pid in range(1, patients + 1):
        t = templates[keys[pid % len(keys)]]
        treatment = TREATMENTS[int(rng.integers(len(TREATMENTS)))]
        kind = rng.choice(["typical", "slow", "rebound"], p=[0.7, 0.2, 0.1])
        kinds[str(kind)] += 1
        peak = float(rng.uniform(5, 11))
        treated_on = today - timedelta(days=int(rng.integers(days[-1] + 1, 400)))
        skin_type = str(rng.choice(["I", "II", "III", "IV", "V", "VI"]))
        follow_days = np.array(days[1:], float)
        if kind == "slow":
            excess = expected_course(treatment, follow_days / 3, peak_delta_a=peak).typical
        else:
            excess = expected_course(treatment, follow_days, peak_delta_a=peak).typical
            if kind == "rebound":
                excess = excess + np.where(follow_days >= 10, 0.4 * peak * np.minimum(1, (follow_days - 7) / 7), 0)
        started = time.perf_counter()
        photo_ids = []
        for i, day in enumerate(days):
            photo_count += 1
            taken_at = datetime.combine(treated_on + timedelta(days=day), dtime(8)) + timedelta(
                minutes=int(rng.integers(0, 600)))
            outcome = sv.record_photo(store, sv.SYSTEM, sv.PhotoRecord(
                patient=f"BENCH-{pid:05d}", name=f"Test patient {pid:04d}", skin_type=skin_type,
                treatment=treatment, treated_on=treated_on, data=_tiny_png(photo_count), taken_at=taken_at,
                roi=t["roi"], control=t["control"]))
            if outcome.status != "imported":
                raise SystemExit(f"recording a benchmark photo failed: {outcome.reason}")
            photo_ids.append(outcome.photo_id)
        timings["record_s"] += time.perf_counter() - started
        started = time.perf_counter()
        with store.session() as s:
            key = analysis_key(s, s.get(Course, outcome.course_id))
        for i, photo_id in enumerate(photo_ids):
            if i == 0:
                result = t["baseline"]
            else:
                bad = t["bad"] and rng.random() < 0.03
                template = t["bad"][0] if bad else t["good"][int(rng.integers(len(t["good"])))]
                result = _with_redness(template, t["baseline"], float(excess[i - 1]), rng)
            save_result(store, photo_id, key, result)
        timings["results_s"] += time.perf_counter() - started

    started = time.perf_counter()
    for first in range(1, patients + 1, 100):
        with store.session() as s:
            for course in s.scalars(select(Course).where(Course.id >= first, Course.id < first + 100)):
                store_summary(s, course)
    timings["summaries_s"] = time.perf_counter() - started

    provider_id = sv.create_user(store, sv.SYSTEM, "bench-provider", PASSWORD, "provider")
    for summary in sv.list_patients(store, sv.SYSTEM):
        sv.assign_patient(store, sv.SYSTEM, provider_id, summary.id)
    with store.session() as s:
        statuses = {}
        for status in s.scalars(select(CourseSummary.status)):
            statuses[status] = statuses.get(status, 0) + 1
    timings.update(photos=photo_count, kinds=kinds, statuses=statuses)
    return timings


# --- 2. the 50-photo patient: real JPEGs, real analyses -----------------------------------

def progress_series(n: int, side: int = 1024, seed: int = 50) -> tuple[list[tuple[int, Path]], tuple, tuple]:
    """A baseline (day -1) and ``n - 1`` daily follow-ups as cached JPEG files; (day, path), roi, control."""
    folder = WORK_DIR / f"progress_s{side}_n{n}_seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    factor = side / 512
    roi = sim.scale_box(sim.ASTRONAUT_CHEEK, factor)
    control = sim.scale_box(sim.ASTRONAUT_CHIN, factor)
    days = [-1] + list(range(1, n))
    redness = expected_course("fractional_co2", np.array(days, float), peak_delta_a=10.0).typical
    rng = np.random.default_rng(seed)
    baseline = None
    out = []
    for day, delta_a in zip(days, redness):
        motion = sim.random_motion(rng, side, max_rotation=8.0, max_scale=0.1, max_shift=0.03, max_tilt=0.00005)
        lighting = sim.random_lighting(rng, exposure=(0.8, 1.05), white_balance=0.06, gamma=0.1)
        photo_seed = int(rng.integers(2**31))
        path = folder / f"day{day:+03d}.jpg"
        out.append((day, path))
        if path.exists():
            continue
        if baseline is None:
            baseline = make_baseline(side)
        if day < 0:
            photo = baseline
        else:
            mask = np.zeros(baseline.shape[:2], bool)
            x, y, w, h = roi
            mask[y:y + h, x:x + w] = True
            reddened = sim.add_redness(baseline, mask, float(delta_a), feather_px=w / 6)
            photo = sim.change_lighting(sim.render_view(reddened, sim.camera_matrix(motion, baseline.shape[:2])),
                                        lighting)
        photo = sim.add_sensor_noise(photo, 2.0, np.random.default_rng(photo_seed))
        if not cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"could not write {path}")
    return out, roi, control


def populate_progress_patient(store, n: int) -> dict:
    started = time.perf_counter()
    series, roi, control = progress_series(n)
    made_s = time.perf_counter() - started
    patient_id = sv.create_patient(store, sv.SYSTEM, "BENCH-PROGRESS", "Test patient with 50 photos", "II")
    treated_on = date.today() - timedelta(days=n + 5)
    course_id = sv.add_course(store, sv.SYSTEM, patient_id, "fractional_co2", treated_on, "left cheek", roi, control)
    started = time.perf_counter()
    for day, path in series:
        taken_at = datetime.combine(treated_on + timedelta(days=day), dtime(9))
        sv.add_photo(store, sv.SYSTEM, course_id, path.read_bytes(), taken_at, analyse=False)
    stored_s = time.perf_counter() - started
    started = time.perf_counter()
    results = sv.refresh_analyses(store, sv.SYSTEM, course_id)
    analysed_s = time.perf_counter() - started
    sv.create_user(store, sv.SYSTEM, "bench-patient", PASSWORD, "patient", patient_id)
    return dict(patient_id=patient_id, made_s=made_s, stored_s=stored_s, analysed_s=analysed_s,
                photos=len(results), ok=sum(r.ok for r in results.values()),
                bytes=sum(p.stat().st_size for _, p in series))


# --- 3. timing the pages ----------------------------------------------------------------------

class ScriptThreadClock:
    """Time (and optionally cProfile) what runs in AppTest's script thread."""

    def __init__(self):
        from streamlit.testing.v1.local_script_runner import LocalScriptRunner
        self.cls = LocalScriptRunner
        self.original = LocalScriptRunner._run_script_thread
        self.last = 0.0
        self.profile: cProfile.Profile | None = None
        clock = self

        def timed(runner):
            prof = clock.profile
            started = time.perf_counter()
            if prof is not None:
                prof.enable()
            try:
                clock.original(runner)
            finally:
                if prof is not None:
                    prof.disable()
                clock.last = time.perf_counter() - started

        LocalScriptRunner._run_script_thread = timed

    def restore(self):
        self.cls._run_script_thread = self.original


class CallCounter:
    """Count calls, during page runs, of what the services' analysis cache calls (the recovery fit, the
    photo analysis)."""

    def __init__(self, *names: str):
        self.originals = {name: getattr(analyses, name) for name in names}
        self.counts = dict.fromkeys(names, 0)
        for name, original in self.originals.items():
            def counted(*a, _name=name, _original=original, **k):
                self.counts[_name] += 1
                return _original(*a, **k)
            setattr(analyses, name, counted)

    def take(self) -> dict[str, int]:
        counts, self.counts = self.counts, dict.fromkeys(self.counts, 0)
        return counts

    def restore(self) -> None:
        for name, original in self.originals.items():
            setattr(analyses, name, original)


def quiet() -> None:
    """No "missing ScriptRunContext" / "No runtime found" warnings when caches are cleared from here.

    AppTest re-applies the configured log level when it runs, so this is called before each clearing.
    """
    import streamlit.logger
    streamlit.logger.set_log_level("error")


def clear_photo_cache() -> None:
    from tracker.web.session import photo_rgb
    quiet()
    photo_rgb.clear()


def new_app(data_dir: Path, username: str, page: str):
    """An AppTest of app.py signed in as ``username``, switched to ``page``."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["TRACKER_DATA_DIR"] = str(data_dir)
    quiet()
    st.cache_resource.clear()  # get_store() opens the store named by TRACKER_DATA_DIR
    st.cache_data.clear()
    store = open_store(data_dir)
    token, _ = sv.sign_in(store, username, PASSWORD)
    store.close()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["token"] = token
    at.switch_page(page)
    return at


def time_page(at, clock: ScriptThreadClock, runs: int, before=None, check=None) -> dict:
    """One warm-up run, then ``runs`` timed runs; medians of AppTest.run() and of the script thread."""
    total, script = [], []
    first = None
    for i in range(runs + 1):
        if before:
            before()
        started = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - started
        if at.exception:
            raise SystemExit(f"the page raised: {at.exception[0].value}")
        if check:
            check(at)
        if i == 0:
            first = elapsed
        else:
            total.append(elapsed)
            script.append(clock.last)
    return dict(first=first, median=statistics.median(total), min=min(total), max=max(total),
                script=statistics.median(script))


# Streamlit's script-runner frames that wrap every page run; left out of the printed profile.
_SCAFFOLDING = r"^(?!.*(local_script_runner|script_runner\.py|exec_code\.py|page\.py:|builtins\.exec|metrics_util))"


def profile_page(at, clock: ScriptThreadClock, before=None, top: int = 10) -> str:
    """cProfile of one run of the page's script thread: the top ``top`` functions by cumulative time."""
    clock.profile = cProfile.Profile()
    try:
        if before:
            before()
        at.run()
    finally:
        prof, clock.profile = clock.profile, None
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs().sort_stats("cumulative")
    stats.print_stats(_SCAFFOLDING, top)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return (f"(whole script thread {stats.total_tt:.3f} s under the profiler; Streamlit's script-runner "
            f"wrappers left out)\n" + "\n".join(line for line in lines[start:] if line.strip()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--photos", type=int, default=10, help="photos per listed patient (at most 13)")
    parser.add_argument("--progress-photos", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each page's script thread")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store and print where it is")
    parser.add_argument("--no-check", action="store_true", help="always exit 0")
    args = parser.parse_args()
    if not 2 <= args.photos <= len(FOLLOW_UP_DAYS) + 1:
        parser.error(f"--photos must be 2 to {len(FOLLOW_UP_DAYS) + 1}")

    print(machine())
    tmp = Path(tempfile.mkdtemp(prefix="bench_app_pages_"))
    data_dir = tmp / "store"
    try:
        started = time.perf_counter()
        templates = demo_templates(tmp / "scratch")
        templates_s = time.perf_counter() - started
        store = open_store(data_dir)
        clinic = populate_clinic(store, templates, args.patients, args.photos)
        print(f"population (not timed against a target): demo analysed for templates {templates_s:.1f} s; "
              f"{args.patients} patients / {clinic['photos']} photos recorded {clinic['record_s']:.1f} s, "
              f"results stored {clinic['results_s']:.1f} s; "
              f"{args.patients} course summaries {clinic['summaries_s']:.1f} s "
              f"({clinic['summaries_s'] / args.patients * 1000:.0f} ms each)")
        print(f"  courses {clinic['kinds']} -> statuses {clinic['statuses']}")
        prog = populate_progress_patient(store, args.progress_photos)
        print(f"  50-photo patient: {prog['photos']} photos ({prog['ok']} analysed ok, "
              f"{prog['bytes'] / 1e6:.1f} MB of JPEG); made {prog['made_s']:.1f} s, stored {prog['stored_s']:.1f} s, "
              f"analysed {prog['analysed_s']:.1f} s")
        store.close()

        clock = ScriptThreadClock()
        calls = CallCounter("course_progress", "analyse_photo", "analyse_baseline")
        try:
            # Provider's patient list.
            def list_ok(at):
                frame = at.dataframe[0].value
                if len(frame) != args.patients:
                    raise SystemExit(f"the list shows {len(frame)} patients, expected {args.patients}")

            at = new_app(data_dir, "bench-provider", "pages/patients.py")
            listing = time_page(at, clock, args.runs, check=list_ok)
            list_calls = calls.take()
            list_profile = profile_page(at, clock) if args.profile or listing["median"] >= LIST_TARGET_S else None
            store = open_store(data_dir)
            provider = sv.sign_in(store, "bench-provider", PASSWORD)[1]
            service_list = median_call(lambda: patient_list_frame(sv.list_patients(store, provider)), args.runs)

            # Patient's progress page.
            import streamlit as st

            def progress_ok(at):
                images = at.get("image")
                if len(images) < 4 or not at.get("vega_lite_chart"):
                    raise SystemExit("the progress page did not show its photos and chart")

            at = new_app(data_dir, "bench-patient", "pages/my_progress.py")
            warm = time_page(at, clock, args.runs, check=progress_ok)
            cold = time_page(at, clock, args.runs, before=clear_photo_cache, check=progress_ok)
            progress_calls = calls.take()
            slow = max(warm["median"], cold["median"]) >= PROGRESS_TARGET_S
            prog_profile = profile_page(at, clock, before=clear_photo_cache) if args.profile or slow else None
            patient = sv.sign_in(store, "bench-patient", PASSWORD)[1]
            service_detail = median_call(lambda: sv.get_patient(store, patient, patient.patient_id), args.runs)
            store.close()
            st.cache_resource.clear()
        finally:
            clock.restore()
            calls.restore()
    finally:
        if args.keep:
            print(f"store kept in {data_dir}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"| page | first run s | median s ({args.runs} runs) | min-max s | script thread s | target | verdict |")
    print("|---|---|---|---|---|---|---|")
    verdicts = []
    for label, r, target in ((f"patient list, {args.patients} x {args.photos} photos", listing, LIST_TARGET_S),
                             (f"my progress, {args.progress_photos} photos, photos cached", warm, PROGRESS_TARGET_S),
                             (f"my progress, {args.progress_photos} photos, photo cache cleared", cold,
                              PROGRESS_TARGET_S)):
        ok = r["median"] < target
        verdicts.append((label, ok, r["median"], target))
        print(f"| {label} | {r['first']:.3f} | **{r['median']:.3f}** | {r['min']:.3f}-{r['max']:.3f} | "
              f"{r['script']:.3f} | < {target:g} | {'PASS' if ok else 'FAIL'} |")
    print()
    print(f"service calls alone (median): list_patients + patient_list_frame {service_list:.3f} s; "
          f"get_patient ({args.progress_photos} photos, recovery fit) {service_detail:.3f} s")
    page_runs = args.runs + 1
    print(f"work done by the page runs: patient list ({page_runs} runs): {list_calls['course_progress']} recovery "
          f"fits, {list_calls['analyse_photo'] + list_calls['analyse_baseline']} photo analyses; my progress "
          f"({2 * page_runs} runs): {progress_calls['course_progress']} recovery fits (one per run: get_patient), "
          f"{progress_calls['analyse_photo'] + progress_calls['analyse_baseline']} photo analyses")
    if list_profile:
        print("\ncProfile, patient list (script thread, cumulative):\n" + list_profile)
    if prog_profile:
        print("\ncProfile, my progress with the photo cache cleared (script thread, cumulative):\n" + prog_profile)
    print()
    for label, ok, value, target in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}: {label}: {value:.3f} s {'<' if ok else '>='} {target:g} s")
    list_work = sum(list_calls.values())
    progress_work = progress_calls["analyse_photo"] + progress_calls["analyse_baseline"]
    for label, work in (("patient list: no recovery fit or photo analysis on page load", list_work),
                        ("my progress: no photo analysis on page load", progress_work)):
        print(f"{'PASS' if work == 0 else 'FAIL'}: {label} ({work} calls)")
        verdicts.append((label, work == 0, work, 0))
    missed = not all(ok for _, ok, _, _ in verdicts)
    return 1 if missed and not args.no_check else 0


if __name__ == "__main__":
    sys.exit(main())
