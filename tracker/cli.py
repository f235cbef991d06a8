"""The ``tracker`` command line: batch work over the same core as the app.

Exit status: 0 when every photo was analysed, 1 when any photo failed (the rest
are still analysed and printed), 2 for usage errors. Bad input never shows a
Python traceback: each failure is one line.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from tracker import __version__

app = typer.Typer(
    name="tracker",
    help="Healing-progress photo tracker: measure skin recovery after laser treatment from photos.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _fail_usage(message: str) -> None:
    typer.echo(f"tracker: error: {message}", err=True)
    raise typer.Exit(2)


def _box_option(value: str | None, name: str):
    from tracker.analysis import parse_box

    if value is None:
        return None
    try:
        return parse_box(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from None


_OPTIONS: dict = {}


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", envvar="TRACKER_DATA_DIR",
        help="Where the embedded database and photos live (default: per-user data directory).")] = None,
) -> None:
    if version:
        typer.echo(f"tracker {__version__}")
        raise typer.Exit(0)
    _OPTIONS["data_dir"] = data_dir


def _open_store():
    """The store, or a one-line error and exit status 2."""
    from tracker.store.db import StoreError, open_store

    try:
        return open_store(_OPTIONS.get("data_dir"))
    except StoreError as exc:
        _fail_usage(str(exc))


@app.command("analyze")
def analyze(
    photos: Annotated[list[Path], typer.Argument(help="Follow-up photos to analyse.", show_default=False)],
    reference: Annotated[Path, typer.Option("--reference", "-r", help="The baseline photo (before treatment or the first session).")],
    roi: Annotated[str | None, typer.Option("--roi", help="Region of interest X,Y,W,H in baseline pixels.")] = None,
    control: Annotated[str | None, typer.Option("--control", help="Untreated control region X,Y,W,H in baseline pixels.")] = None,
    treated: Annotated[str, typer.Option("--treated", help="What was treated: 'face' (skin outside --roi may be "
                                         "treated too, so it is never taken as unchanged) or 'region' (only --roi).")] = "face",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per photo per line (JSON Lines).")] = False,
) -> None:
    """Align photos to a baseline, check their quality, normalise colour and measure the skin."""
    from tracker.analysis import TREATED_EXTENTS, AnalysisConfig, PhotoError, analyse_files
    from tracker.analysis.io import photo_camera
    from tracker.memory import keep_photo_buffers

    keep_photo_buffers()
    roi_box = _box_option(roi, "--roi")
    control_box = _box_option(control, "--control")
    if treated not in TREATED_EXTENTS:
        _fail_usage(f"--treated must be one of {', '.join(TREATED_EXTENTS)}, got {treated!r}")
    printer = _JsonPrinter() if as_json else _TablePrinter(photo_camera(reference))
    failures = 0
    try:
        for name, result in analyse_files(reference, photos, roi_box, control_box,
                                          AnalysisConfig(treated=treated)):
            failures += not result.ok
            printer.row(name, result)
    except PhotoError as exc:
        _fail_usage(f"the reference photo {reference}: {exc}")
    except ValueError as exc:  # a region outside the baseline
        _fail_usage(str(exc))
    printer.close(len(photos), failures)
    raise typer.Exit(1 if failures else 0)


@app.command("treatments")
def treatments(
    key: Annotated[str | None, typer.Argument(help="A treatment key, to describe its expected course.")] = None,
) -> None:
    """List the treatment types of the catalogue, or describe one."""
    from tracker.recovery import TREATMENTS, describe_treatment

    if key is not None:
        if key not in TREATMENTS:
            _fail_usage(f"unknown treatment {key!r}; choose one of: {', '.join(TREATMENTS)}")
        typer.echo(describe_treatment(key))
        return
    width = max(map(len, TREATMENTS))
    for k, t in TREATMENTS.items():
        typer.echo(f"{k.ljust(width)}  {t.name}: redness usually fades by day "
                   f"{t.resolution_day_low:g}-{t.resolution_day_high:g}")


@app.command("init")
def init() -> None:
    """Create (or upgrade) the store in the data directory, and check that its database is whole."""
    store = _open_store()
    problem = store.integrity_problem()
    if problem:
        _fail_usage(f"the database in {store.data_dir} is damaged ({problem}); restore it from a backup")
    typer.echo(f"Store ready: {store.data_dir} ({store.dialect}).")


@app.command("user")
def user(
    action: Annotated[str, typer.Argument(help="add, unlock or passwd")],
    username: Annotated[str, typer.Argument(help="The account's user name.")],
    role: Annotated[str | None, typer.Option("--role", help="For add: patient, provider, researcher or admin.")] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="For a patient account: the patient's identifier.")] = None,
    password: Annotated[str | None, typer.Option(
        "--password", envvar="TRACKER_NEW_PASSWORD", help="For add and passwd: the new password (asked for when "
        "not given).")] = None,
) -> None:
    """Manage a local account: `tracker user add NAME --role provider`, `tracker user unlock NAME` (after failed
    sign-ins, from every source), `tracker user passwd NAME` (set a new password; ends its sessions)."""
    from tracker import services as sv

    if action not in ("add", "unlock", "passwd"):
        _fail_usage(f"unknown action {action!r}; use add, unlock or passwd")
    if action == "add" and role is None:
        _fail_usage("`tracker user add NAME` needs --role ROLE")
    store = _open_store()
    if action != "add":
        user_id = next((u["id"] for u in sv.list_users(store, sv.SYSTEM) if u["username"] == username), None)
        if user_id is None:
            _fail_usage(f"there is no account {username!r}")
    patient_id = None
    if patient is not None:
        patient_id = sv.find_patient_id(store, sv.SYSTEM, patient)
        if patient_id is None:
            _fail_usage(f"there is no patient {patient!r}")
    if action != "unlock" and password is None:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        if action == "add":
            user_id = sv.create_user(store, sv.SYSTEM, username, password, role, patient_id)
            typer.echo(f"Account {username!r} ({role}) created with id {user_id}.")
        elif action == "unlock":
            sv.unlock_user(store, sv.SYSTEM, user_id)
            typer.echo(f"Account {username!r} unlocked.")
        else:
            sv.reset_password(store, sv.SYSTEM, user_id, password)
            typer.echo(f"Password of {username!r} set; its sessions have ended.")
    except sv.ServiceError as exc:
        _fail_usage(str(exc))


_WORKERS_HELP = ("Processes analysing photos at once (default: every core this command may use); with --dask "
                 "local, this one and a LocalCluster of the others (at least one worker).")
_DASK_HELP = ("Run the analysis on a Dask cluster: the scheduler's address (tcp://host:8786), or `local` to "
              "start a LocalCluster here. Its workers must reach the same store (README, Deployment).")


def _dask_address(value: str | None) -> str | None:
    """``--dask`` as given, once Dask can read it as ``local`` or a scheduler's address; else a usage error.

    Checked before anything is imported or queued (Dask's own error for ``--dask host`` without a
    port was a traceback from deep in its client).
    """
    if value is None or value == "local":
        return value
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(value)
        get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss") and not parse_host_port(location)[0]:
            raise ValueError("no host")
    except ValueError as exc:
        _fail_usage(f"--dask must be `local` or a Dask scheduler's address such as tcp://host:8786, not {value!r} "
                    f"({_first_line(exc)})")
    return value


def _workers(value: int | None, dask: str | None = None, *, warn: bool = True) -> int:
    """``--workers`` as given, else the cores this process may use.

    Not ``os.cpu_count()``, the machine's: in a container limited to 2 of a host's 64 cores
    (a CPU quota, or an affinity such as ``taskset``'s) that started 64 workers, each holding
    some 300 MB, taking turns on 2 cores. Dask's count takes the affinity and the cgroup quota.
    With ``warn``, a number the batch will not use as meant gets a line on stderr: more than
    those cores (accepted: the photos may sit on a slow network store), or any with the address
    of a running cluster, whose own workers do the batch.
    """
    def cores() -> int:  # imported only where needed: dask takes some 0.5 s to import
        from dask.system import cpu_count

        return cpu_count()

    if value is None:
        return cores()
    if value < 1:
        _fail_usage("--workers must be at least 1")
    if warn and dask not in (None, "local"):
        typer.echo(f"tracker: warning: --workers {value} is not used with --dask {dask}: the batch runs one task on "
                   "each worker thread of that cluster (start its workers with `dask worker ADDRESS --nworkers N "
                   "--nthreads 1`).", err=True)
    elif warn and value > 1 and value > (n := cores()):  # every process may use one core at least
        typer.echo(f"tracker: warning: --workers {value} is more than the {n} core{'s' if n > 1 else ''} "
                   f"this command may use: the workers take turns on them, each holding its own memory (some "
                   f"400 MB for 12-MP photos), and finish no sooner than {n} (the default) unless the photos are "
                   "read from a slow network store.", err=True)
    return value


class _BatchProgress:
    """Photos analysed, photos per second and the time left, on stderr.

    A bar on a terminal; elsewhere (a log file, a CI job) one line every ten seconds.
    """

    def __init__(self, label: str) -> None:
        import time

        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, \
            TimeRemainingColumn
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task) -> Text:
                return Text(f"{task.speed:.1f} photos/s" if task.speed else "… photos/s")

        self._clock = time.monotonic
        self._label = label
        self._tty = sys.stderr.isatty()
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                             TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                             disable=not self._tty)
        self._task = None
        self._started = self._clock()
        self._printed = self._started

    def __enter__(self) -> _BatchProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def __call__(self, done: int, total: int) -> None:
        if self._task is None:
            self._task = self._bar.add_task(self._label, total=total)
            self._started = self._clock()
        self._bar.update(self._task, completed=done, total=total)
        now = self._clock()
        if not self._tty and now - self._printed >= 10 and done:
            self._printed = now
            rate = done / (now - self._started)
            typer.echo(f"{self._label}: {done} of {total} photos, {rate:.1f} photos/s, about "
                       f"{(total - done) / rate:.0f} s left", err=True)


#: Failed photos listed one a line at the end of a batch; beyond them, the rest are counted by reason.
FAILED_LINES = 20


def _print_batch_report(report) -> None:
    for photo_id, reason in report.failed[:FAILED_LINES]:
        typer.echo(f"failed   photo {photo_id}: {reason}")
    if len(report.failed) > FAILED_LINES:
        from collections import Counter

        typer.echo(f"... and {len(report.failed) - FAILED_LINES:,} more failed photos. All {len(report.failed):,} "
                   "by reason:")
        for reason, n in Counter(reason for _, reason in report.failed).most_common():
            typer.echo(f"{n:>8,} × {reason}")
    for reason in report.refused:  # a Dask worker that joined after the cluster was checked
        typer.echo(f"A worker of the cluster took no part: {reason}.")
    rate = f", {report.analysed / report.seconds:.2f} photos/s" if report.seconds and report.analysed else ""
    # No worker ran when nothing was queued: then there is no memory to report.
    n = report.worker_processes  # not a Dask worker that took no part, and one with two threads once
    memory = f"; {n} worker{'s' if n > 1 else ''}, peak memory per worker {report.peak_worker_rss_mb:.0f} MB" \
        if n else ""
    typer.echo(f"{report.analysed} analysed, {report.current} skipped as current, {len(report.failed)} failed"
               f" (in {report.seconds:.1f} s{rate}{memory}).")
    if report.newer_version:
        typer.echo(f"The queue holds photos queued by a newer release (metric version {report.newer_version}): "
                   "this machine's workers left them to it and stopped. Upgrade tracker here before running "
                   "batches on this store.")
    elif report.elsewhere:
        # Not "run the same command again": after --all it would queue every photo again.
        one = report.elsewhere == 1
        typer.echo(f"{report.elsewhere:,} {'photo is' if one else 'photos are'} still held or queued by another batch "
                   f"at work on this store, which finishes {'it' if one else 'them'}; should that batch have stopped, "
                   f"`tracker reanalyze` (without --all) completes {'it' if one else 'them'}.")


def _preview_lines(preview) -> list[str]:
    """What ``tracker reanalyze --dry-run`` prints."""
    reasons = [f"{n:,} {what}" for n, what in (
        (preview.new, "never analysed"),
        (preview.failed, "left without a result by an earlier batch (its worker stopped, or the file could not be "
                         "read from the photo store)"),
        (preview.baseline, "measured against another baseline photo"),
        (preview.regions, "measured with other regions (treated area, control or extent)"))
        if n]
    if preview.older_versions:
        by_version = ", ".join(f"{version}: {n:,}" for version, n in preview.older_versions.items())
        reasons.append(f"{sum(preview.older_versions.values()):,} under an older metric version ({by_version}; "
                       f"now {preview.metric_version})")
    lines = [f"{preview.total:,} photos on the time lines: {preview.current:,} current, "
             f"{preview.out_of_date:,} out of date, {preview.queued:,} queued already (by a batch in progress, "
             "or one that was interrupted: this one takes its share)."]
    lines += [f"  {reason}" for reason in reasons]
    what = "every photo, current or not (--all)" if preview.force else "the out-of-date and the queued ones"
    lines.append(f"Would recompute {preview.to_analyse:,} photos: {what}. Nothing was changed (--dry-run).")
    return lines


def _run_batch_or_fail(run, dask: str | None):
    """``run()``, with workers that cannot open the store or run another version, or a Dask cluster that cannot
    be reached, has no worker or is lost mid-batch, as a one-line usage error (what was analysed stays; the same
    command goes on from there)."""
    from tracker.services.batch import ClusterError, VersionMismatch
    from tracker.store.db import StoreError

    if dask is not None:
        _quiet_dask()
    try:
        return run()
    except StoreError as exc:
        _fail_usage(f"a worker cannot open the store: {exc}")
    except (VersionMismatch, ClusterError) as exc:
        _fail_usage(str(exc))
    except (OSError, TimeoutError) as exc:
        if dask is None:
            raise
        _fail_usage(f"cannot use the Dask cluster {dask}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    """An exception's first line of text, or its type's name where it has none."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _quiet_dask() -> None:
    """Dask's own log lines are for developers (a lost scheduler logs a traceback on the terminal): the command
    says what went wrong in one line. Its loggers are set up when ``distributed`` is imported."""
    import logging

    import distributed  # noqa: F401

    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL)


@app.command("import")
def import_(
    source: Annotated[Path, typer.Argument(help="A manifest CSV, or a folder laid out as PATIENT/TREATMENT/YYYY-MM-DD/.")],
    follow_symlinks: Annotated[bool, typer.Option(
        "--follow-symlinks", help="Read photos and folders through symbolic links (not followed by default).")] = False,
    workers: Annotated[int | None, typer.Option("--workers", help=_WORKERS_HELP)] = None,
    dask: Annotated[str | None, typer.Option("--dask", help=_DASK_HELP)] = None,
) -> None:
    """Import photos in bulk and analyse them; re-running the same import adds only what is missing.

    Only regular files under the manifest's folder (or the import folder) are read.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tracker.services import InputError
    from tracker.services.importer import ImportStopped, analyse_imported, read_manifest, run_import, scan_folder

    dask = _dask_address(dask)
    workers = _workers(workers, dask)
    if not source.exists():
        _fail_usage(f"there is no file or folder {source}")
    try:
        rows = scan_folder(source, follow_symlinks=follow_symlinks) if source.is_dir() else read_manifest(source)
    except InputError as exc:
        _fail_usage(str(exc))
    except OSError as exc:  # the folder itself cannot be listed
        _fail_usage(f"cannot read {source}: {exc.strerror}")
    store = _open_store()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("Importing photos", total=len(rows))
        stopped = None
        try:
            outcomes = run_import(store, rows, lambda _stage, done, total: bar.update(task, completed=done),
                                  analyse=False, follow_symlinks=follow_symlinks)
        except ImportStopped as exc:
            outcomes, stopped = exc.outcomes, str(exc)
    for o in outcomes:
        if o.status == "refused":
            typer.echo(f"refused  {o.source}: {o.photo}: {o.reason}")
    report = None
    if not stopped:
        with _BatchProgress("Analysing") as progress:
            report = _run_batch_or_fail(lambda: analyse_imported(store, outcomes, workers=workers, dask=dask,
                                                                 progress=progress), dask)
        _print_batch_report(report)
    counts = {k: sum(o.status == k for o in outcomes) for k in ("imported", "already", "refused")}
    typer.echo(f"{counts['imported']} imported, {counts['already']} already in the store, "
               f"{counts['refused']} refused, of {len(outcomes)}.")
    if stopped:
        typer.echo(f"tracker: import stopped: {stopped}", err=True)
    unfinished = report is not None and (report.newer_version or report.refused)
    raise typer.Exit(1 if counts["refused"] or stopped or unfinished else 0)


@app.command("reanalyze")
def reanalyze(
    patient: Annotated[str | None, typer.Option("--patient", help="Only this patient (the clinic's identifier).")] = None,
    force: Annotated[bool, typer.Option("--all", help="Recompute every result, current or not.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", help=_WORKERS_HELP)] = None,
    dask: Annotated[str | None, typer.Option("--dask", help=_DASK_HELP)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only say how many photos would be recomputed and why; change nothing.")] = False,
) -> None:
    """Recompute every stored result whose metric version, regions or baseline are out of date.

    Safe to interrupt and to run from several machines at once against one PostgreSQL: each
    photo is claimed by one process, and a re-run completes exactly what is missing.
    """
    from tracker import services as sv
    from tracker.services.batch import preview_reanalysis, reanalyse

    dask = _dask_address(dask)
    workers = _workers(workers, dask, warn=not dry_run)
    store = _open_store()
    patient_id = None
    if patient is not None:
        patient_id = sv.find_patient_id(store, sv.SYSTEM, patient)
        if patient_id is None:
            _fail_usage(f"there is no patient {patient!r}")
    if dry_run:
        try:
            preview = preview_reanalysis(store, sv.SYSTEM, patient_id, force=force)
        except sv.ServiceError as exc:
            _fail_usage(str(exc))
        for line in _preview_lines(preview):
            typer.echo(line)
        raise typer.Exit(0)
    with _BatchProgress("Analysing") as progress:
        try:
            report = _run_batch_or_fail(lambda: reanalyse(store, sv.SYSTEM, patient_id, force=force, workers=workers,
                                                          dask=dask, progress=progress), dask)
        except sv.ServiceError as exc:
            _fail_usage(str(exc))
        except KeyboardInterrupt:
            if not force:
                raise
            # The same command would queue every photo again: without --all, what is queued is completed.
            _interrupted(INTERRUPTED_ALL)
    _print_batch_report(report)
    raise typer.Exit(1 if report.failed or report.newer_version or report.refused else 0)


@app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="The file to write.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, parquet or fhir (an HL7 FHIR R4 Bundle, JSON).")] = "csv",
) -> None:
    """Write the de-identified metric table (one row per photo, or an HL7 FHIR R4 Bundle) and its data dictionary."""
    from tracker.services import SYSTEM
    from tracker.services.consent import left_out_sentence
    from tracker.services.exports import write_export

    if fmt not in ("csv", "parquet", "fhir"):
        _fail_usage("--format must be csv, parquet or fhir")
    store = _open_store()
    written = write_export(store, SYSTEM, out, fmt)
    typer.echo(f"{written.rows} rows written to {out}; data dictionary in {written.dictionary}.")
    typer.echo(left_out_sentence(written.patients_left_out))


def _patient_id_or_fail(store, reference: str) -> int:
    from tracker.services import SYSTEM, find_patient_id

    patient_id = find_patient_id(store, SYSTEM, reference)
    if patient_id is None:
        _fail_usage(f"there is no patient {reference!r}")
    return patient_id


@app.command("consent")
def consent(
    action: Annotated[str, typer.Argument(help="give, withdraw or show")],
    patient: Annotated[str, typer.Argument(help="The patient's identifier.")],
    text_version: Annotated[str | None, typer.Option(
        "--text-version", help="For give: the version of the consent text the patient agreed to (default: the "
        "current one).")] = None,
) -> None:
    """Record, withdraw or show a patient's consent to research use of their de-identified data.

    Only consenting patients are exported; a withdrawal takes effect at the next export.
    """
    from tracker import services as sv
    from tracker.services.consent import CONSENT_TEXTS, CURRENT_CONSENT_VERSION, consent_sentence

    if action not in ("give", "withdraw", "show"):
        _fail_usage(f"unknown action {action!r}; use give, withdraw or show")
    store = _open_store()
    patient_id = _patient_id_or_fail(store, patient)
    try:
        if action == "give":
            version = text_version or CURRENT_CONSENT_VERSION
            sv.record_consent(store, sv.SYSTEM, patient_id, version)
            typer.echo(f"Consent to research use recorded (text {version}): {CONSENT_TEXTS[version]}")
        elif action == "withdraw":
            sv.withdraw_consent(store, sv.SYSTEM, patient_id)
            typer.echo("Consent withdrawn; the patient is left out of every export from now on.")
        else:
            typer.echo(consent_sentence(sv.consent_status(store, sv.SYSTEM, patient_id)))
    except sv.ServiceError as exc:
        _fail_usage(str(exc))


@app.command("erase")
def erase(
    patient: Annotated[str, typer.Argument(help="The patient's identifier.")],
    yes: Annotated[bool, typer.Option("--yes", help="Erase without asking for confirmation.")] = False,
) -> None:
    """Erase a patient on request: photos, measurements, notes, grades, answers and their accounts.

    Cannot be undone. The audit log keeps its events under a pseudonymous id. Backups made
    before still hold the patient: delete them, or restore none of them.
    """
    from tracker import services as sv

    store = _open_store()
    patient_id = _patient_id_or_fail(store, patient)
    if not yes and not typer.confirm(f"Erase patient {patient!r} and everything recorded of them, for good?"):
        _fail_usage("nothing erased")
    erased = sv.erase_patient(store, sv.SYSTEM, patient_id)
    typer.echo(f"Erased: {erased.photos} photos, {erased.accounts} accounts; the audit log keeps the pseudonymous "
               f"id {erased.subject}. Backups made before still hold the patient.")


@app.command("demo")
def demo(
    samples: Annotated[Path | None, typer.Option("--samples", help="The sample_images folder (default: the one "
                                                  "beside the package).")] = None,
) -> None:
    """Load the simulated sample patients and create demo accounts for each role."""
    from tracker.services.demo import DemoError, load_demo

    store = _open_store()
    try:
        accounts, created = load_demo(store, samples)
    except DemoError as exc:
        _fail_usage(str(exc))
    typer.echo("Demo data loaded (simulated patients, not real people)." if created else
               "Demo data already loaded.")
    typer.echo("Demo sign-ins (also kept in " + str(store.data_dir / "demo-accounts.txt") + "):")
    for name, role, password in accounts:
        typer.echo(f"  {role:<10} {name:<14} {password}")


@app.command("app")
def run_app(
    demo_data: Annotated[bool, typer.Option("--demo", help="Load the simulated demo patients and accounts first "
                                            "(into a separate demo data directory unless --data-dir is given).")] = False,
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 8501,
    host: Annotated[str, typer.Option("--host", help="Address to serve on. The default serves this machine only; "
                                      "to serve others (0.0.0.0, or one address), put a reverse proxy with TLS "
                                      "and a body-size limit in front (README, Deployment).")] = "127.0.0.1",
) -> None:
    """Start the web app (Streamlit), on this machine only unless --host says otherwise."""
    import os
    import subprocess

    from tracker.services.demo import DemoError, load_demo
    from tracker.store.db import default_data_dir
    from tracker.web import app_dir

    try:
        folder = app_dir()
    except FileNotFoundError as exc:
        _fail_usage(str(exc))
    if demo_data and _OPTIONS.get("data_dir") is None:
        _OPTIONS["data_dir"] = default_data_dir().with_name(default_data_dir().name + "-demo")
    store = _open_store()
    problem = store.integrity_problem()
    if problem:
        _fail_usage(f"the database in {store.data_dir} is damaged ({problem}); restore it from a backup")
    if demo_data:
        try:
            accounts, _ = load_demo(store)
        except DemoError as exc:
            _fail_usage(str(exc))
        typer.echo("Demo sign-ins (simulated patients, not real people):")
        for name, role, password in accounts:
            typer.echo(f"  {role:<10} {name:<14} {password}")
    store.close()
    env = dict(os.environ, TRACKER_DATA_DIR=str(store.data_dir))
    shown = "localhost" if host in ("127.0.0.1", "localhost", "::1") else host
    typer.echo(f"Starting the app on http://{shown}:{port} (data in {store.data_dir}); Ctrl+C stops it.")
    if shown != "localhost":
        typer.echo("The app is reachable from other machines: serve it only behind a reverse proxy with TLS "
                   "(README, Deployment).", err=True)
    # serve.py adds the security headers and the upload guard (tracker.web.server) around app.py.
    command = [sys.executable, "-m", "streamlit", "run", str(folder / "serve.py"), "--server.port", str(port),
               "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    # Streamlit reads .streamlit/config.toml from its working directory: the app's own folder.
    raise typer.Exit(subprocess.call(command, env=env, cwd=folder))


@app.command("backup")
def backup(out: Annotated[Path, typer.Argument(help="The backup file to write (.tar.gz).")]) -> None:
    """Back up the database and the photo store into one file."""
    from tracker.services.backup import write_backup

    try:
        manifest = write_backup(_open_store(), out)
    except OSError as exc:
        _fail_usage(f"cannot write the backup {out}: {exc.strerror or exc}")
    typer.echo(f"Backed up {sum(manifest['tables'].values())} rows and {manifest['photos']} photos to {out}.")


@app.command("restore")
def restore(backup_file: Annotated[Path, typer.Argument(help="A file written by `tracker backup`.")]) -> None:
    """Restore a backup into an empty store."""
    from tracker.services.backup import BackupError, restore_backup

    try:
        manifest = restore_backup(_open_store(), backup_file)
    except BackupError as exc:
        _fail_usage(str(exc))
    typer.echo(f"Restored {sum(manifest['tables'].values())} rows and {manifest['photos']} photos.")


class _JsonPrinter:
    def row(self, name: str, result) -> None:
        sys.stdout.write(json.dumps({"photo": name, **result.to_dict()}, allow_nan=False) + "\n")
        sys.stdout.flush()

    def close(self, total: int, failures: int) -> None:
        pass


OTHER_CAMERA_NOTE = ("Taken with another camera than the reference photo: cameras show colours differently, so its"
                     " redness can differ by about 1 a* unit (VALIDITY.md, 'Another camera').")


class _TablePrinter:
    """A readable table, printed row by row as photos are analysed.

    ``reference_camera`` is the reference photo's camera (EXIF): a photo that names another one
    gets :data:`OTHER_CAMERA_NOTE` (the JSON Lines output keeps its keys).
    """

    _COLUMNS = (("photo", 28), ("status", 9), ("align", 12), ("colour", 15), ("a*", 7), ("Δa*", 7),
                ("EI", 7), ("ITA°", 7), ("notes", 0))

    def __init__(self, reference_camera: str | None = None) -> None:
        self._started = False
        self._reference_camera = reference_camera

    def _header(self) -> None:
        if not self._started:
            typer.echo(self._line([name for name, _ in self._COLUMNS]))
            self._started = True

    def _line(self, cells: list[str]) -> str:
        return "  ".join(c.ljust(w)[: w or None] if w else c for c, (_, w) in zip(cells, self._COLUMNS)).rstrip()

    def row(self, name: str, r) -> None:
        from tracker.analysis.result import camera_differs

        self._header()
        camera = None
        if self._reference_camera and r.ok:
            from tracker.analysis.io import photo_camera

            camera = photo_camera(name)
        name = name if len(name) <= 28 else "…" + name[-27:]
        fmt = lambda k: "-" if r.metric(k) is None else f"{r.metric(k):.1f}"  # noqa: E731
        status = "failed" if not r.ok else ("ok" if r.quality_ok else "check")
        align_cell = "-" if not r.alignment_ok else f"{r.alignment_rmse_px:.2f}px/{r.alignment_inliers}"
        notes = r.error or "; ".join(r.quality_issues)
        if r.mirrored:
            from tracker.analysis.align import MIRRORED_NOTE

            notes = " ".join(filter(None, [MIRRORED_NOTE, notes]))
        if camera_differs(camera, self._reference_camera):
            notes = " ".join(filter(None, [OTHER_CAMERA_NOTE, notes]))
        typer.echo(self._line([name, status, align_cell, r.colour_method or "-", fmt("redness_a"),
                               fmt("redness_delta_a"), fmt("erythema_index"), fmt("ita_deg"), notes]))

    def close(self, total: int, failures: int) -> None:
        self._header()
        typer.echo(f"\n{total - failures} of {total} photos analysed" + (f", {failures} failed." if failures else "."))


def main() -> None:
    """Console-script entry point."""
    # Library warnings are for developers; users get one-line messages.
    warnings.simplefilter("ignore")
    try:
        app()
    except KeyboardInterrupt:  # outside a command (Typer turns one inside into exit status 130, silently)
        _interrupted()
    except SystemExit as exit_:
        if exit_.code == 130 and not isinstance(exit_, _Interrupted):
            _interrupted()
        raise
    except Exception as exc:
        if (lost := _database_lost(exc)) is None:
            raise
        typer.echo(f"tracker: error: the database stopped answering ({lost}): what was stored before stays; run "
                   "the command again once it answers", err=True)
        sys.exit(2)


def _database_lost(exc: BaseException) -> str | None:
    """The driver's first line when ``exc`` is the database failing mid-command (a server stopped, a network
    down, a full disk), else None. Opening a store that cannot be reached is told by :func:`_open_store` already."""
    sa_exc = sys.modules.get("sqlalchemy.exc")  # imported by whatever reached the database
    if sa_exc is None or not isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return None
    return _first_line(getattr(exc, "orig", None) or exc)


class _Interrupted(SystemExit):
    """Exit status 130 once the interruption has been told (:func:`_interrupted`)."""


def _interrupted(message: str | None = None) -> None:
    typer.echo(f"tracker: {message or INTERRUPTED}", err=True)
    raise _Interrupted(130)


INTERRUPTED = "interrupted; what was finished is kept, and running the same command again completes the rest."
INTERRUPTED_ALL = ("interrupted; what was finished is kept, and the same command without --all completes the rest "
                   "(with --all, every photo would be recomputed again).")


if __name__ == "__main__":
    main()
