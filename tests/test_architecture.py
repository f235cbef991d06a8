"""The layers in the tree hold: what each layer may import, read from the sources themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tracker"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: resolve against the file's package
            package = path.relative_to(REPO).with_suffix("").parts[: -node.level]
            names.add(".".join(package + ((node.module,) if node.module else ())))
    return names


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "migrations" not in p.parts)


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        bad = sorted(m for m in imported_modules(path) if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            found[str(path.relative_to(REPO))] = bad
    return found


@pytest.mark.parametrize("layer", ["analysis", "recovery"])
def test_the_core_imports_no_store_service_or_face(layer):
    forbidden = ("tracker.store", "tracker.services", "tracker.web", "tracker.cli", "streamlit", "sqlalchemy")
    assert offending(files(PACKAGE / layer), forbidden) == {}


def test_the_recovery_model_reads_no_images():
    assert offending(files(PACKAGE / "recovery"), ("cv2", "skimage", "PIL", "tracker.analysis.io")) == {}


def test_services_know_nothing_of_the_faces():
    assert offending(files(PACKAGE / "services"), ("tracker.web", "tracker.cli", "streamlit")) == {}


def test_only_the_web_face_imports_streamlit():
    outside = [p for p in files(PACKAGE) if "web" not in p.relative_to(PACKAGE).parts]
    assert offending(outside, ("streamlit",)) == {}


def test_pages_go_through_the_services_not_the_store():
    scripts = [*files(REPO / "pages"), REPO / "app.py"]
    assert len(scripts) >= 7
    assert offending(scripts, ("tracker.store", "sqlalchemy")) == {}


def test_the_checker_sees_imports():
    """The test above would pass on files it cannot read: show it finds what it looks for."""
    assert "tracker.store.db" in imported_modules(PACKAGE / "services" / "records.py")
    assert "tracker.analysis.result" in imported_modules(PACKAGE / "recovery" / "timeline.py")
    assert "streamlit" in imported_modules(REPO / "pages" / "patients.py")


def test_every_subpackage_declares_its_public_api():
    import importlib

    for name in ("analysis", "recovery", "services", "web"):
        module = importlib.import_module(f"tracker.{name}")
        assert module.__all__, name
        assert all(hasattr(module, item) for item in module.__all__), name


def test_a_batch_worker_imports_what_it_needs_only():
    """What a started worker imports is start-up time on every worker: not the recovery model, not the faces.

    Nor what only some stores and photos need: PostgreSQL's dialect, and the HEIC reader (loaded
    on the first HEIC, ``tests/test_io.py``).
    """
    import subprocess
    import sys

    code = ("import sys, tracker.services.batch; print(' '.join(sorted(m for m in sys.modules if m.startswith("
            "('tracker.', 'scipy.stats', 'scipy.optimize', 'fpdf', 'plotly', 'streamlit', 'pandas', 'pillow_heif', "
            "'sqlalchemy.dialects.postgresql')))))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=REPO).stdout.split())
    assert {"tracker.services.batch", "tracker.services.analyses", "tracker.analysis"} <= loaded
    unneeded = sorted(m for m in loaded if m.startswith(("tracker.recovery", "tracker.web", "scipy.stats",
                                                          "scipy.optimize", "fpdf", "plotly", "streamlit", "pandas",
                                                          "pillow_heif", "sqlalchemy.dialects.postgresql"))
                      or m in {"tracker.services.records", "tracker.services.read_models", "tracker.services.grades"})
    assert unneeded == []


def test_the_services_package_gives_every_name_it_lists():
    from tracker import services

    for name in services.__all__:
        assert getattr(services, name) is getattr(__import__(f"tracker.services.{services._MODULE_OF[name]}",
                                                             fromlist=[name]), name)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        services.nothing_here  # noqa: B018
