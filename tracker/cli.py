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


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"tracker {__version__}")
        raise typer.Exit(0)


@app.command("analyze")
def analyze(
    photos: Annotated[list[Path], typer.Argument(help="Follow-up photos to analyse.", show_default=False)],
    reference: Annotated[Path, typer.Option("--reference", "-r", help="The baseline photo (before treatment or the first session).")],
    roi: Annotated[str | None, typer.Option("--roi", help="Region of interest X,Y,W,H in baseline pixels.")] = None,
    control: Annotated[str | None, typer.Option("--control", help="Untreated control region X,Y,W,H in baseline pixels.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per photo per line (JSON Lines).")] = False,
) -> None:
    """Align photos to a baseline, check their quality, normalise colour and measure the skin."""
    from tracker.analysis import analyse_baseline, analyse_photo, prepare_baseline
    from tracker.io import PhotoError, read_photo

    roi_box = _box_option(roi, "--roi")
    control_box = _box_option(control, "--control")
    try:
        base_photo = read_photo(reference)
    except PhotoError as exc:
        _fail_usage(f"the reference photo {reference}: {exc}")
    try:
        baseline = prepare_baseline(base_photo.rgb, roi_box, control_box)
    except ValueError as exc:
        _fail_usage(str(exc))

    reference_resolved = _resolved(reference)
    printer = _JsonPrinter() if as_json else _TablePrinter()
    failures = 0
    for path in photos:
        try:
            if _resolved(path) == reference_resolved:
                result = analyse_baseline(baseline)
            else:
                result = analyse_photo(read_photo(path).rgb, baseline)
            record = {"photo": str(path), **result.to_dict()}
        except PhotoError as exc:
            record = {"photo": str(path), "ok": False, "error": str(exc)}
        except Exception as exc:  # a defect must not stop the batch or show a traceback
            record = {"photo": str(path), "ok": False,
                      "error": f"internal error while analysing this photo ({type(exc).__name__}); please report it"}
        failures += not record["ok"]
        printer.row(record)
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


def _resolved(path: Path) -> Path | None:
    try:
        return path.resolve(strict=True)
    except OSError:
        return None


class _JsonPrinter:
    def row(self, record: dict) -> None:
        sys.stdout.write(json.dumps(record, allow_nan=False) + "\n")
        sys.stdout.flush()

    def close(self, total: int, failures: int) -> None:
        pass


class _TablePrinter:
    """A readable table, printed row by row as photos are analysed."""

    _COLUMNS = (("photo", 28), ("status", 9), ("align", 12), ("colour", 15), ("a*", 7), ("Δa*", 7),
                ("EI", 7), ("ITA°", 7), ("notes", 0))

    def __init__(self) -> None:
        typer.echo(self._line([name for name, _ in self._COLUMNS]))

    def _line(self, cells: list[str]) -> str:
        return "  ".join(c.ljust(w)[: w or None] if w else c for c, (_, w) in zip(cells, self._COLUMNS)).rstrip()

    def row(self, r: dict) -> None:
        name = r["photo"] if len(r["photo"]) <= 28 else "…" + r["photo"][-27:]
        metrics = r.get("metrics") or {}
        fmt = lambda k: "-" if metrics.get(k) is None else f"{metrics[k]:.1f}"  # noqa: E731
        align = r.get("alignment") or {}
        quality = r.get("quality") or {}
        if not r["ok"]:
            status = "failed"
        else:
            status = "ok" if quality.get("ok") else "check"
        align_cell = "-" if not align.get("ok") else f"{align['rmse_px']:.2f}px/{align['inliers']}"
        notes = r.get("error") or "; ".join(quality.get("issues", []))
        typer.echo(self._line([name, status, align_cell, (r.get("colour") or {}).get("method", "-"),
                               fmt("redness_a"), fmt("redness_delta_a"), fmt("erythema_index"), fmt("ita_deg"),
                               notes]))

    def close(self, total: int, failures: int) -> None:
        typer.echo(f"\n{total - failures} of {total} photos analysed" + (f", {failures} failed." if failures else "."))


def main() -> None:
    """Console-script entry point."""
    # Library warnings are for developers; users get one-line messages.
    warnings.simplefilter("ignore")
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("tracker: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
