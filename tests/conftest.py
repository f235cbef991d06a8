"""Session fixtures shared by the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from skimage import data

from series import SIDE
from tracker.analysis import simulate as sim


#: Property tests draw the same examples on every run (derandomised: a hash of the test), so that
#: the suite passes or fails the same way on every machine and CI run. To search for new
#: counterexamples, run them with ``HYPOTHESIS_PROFILE=explore`` (fresh random examples on every
#: run); a counterexample found so becomes a constructed case in the tests.
settings.register_profile("reproducible", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))

#: Modules whose tests each take 10-35 s (a browser, a batch of processes, a Dask cluster, the
#: Monte Carlo). They are run first, so that the two test workers end together on short tests
#: instead of one of them finishing a long one alone (about a minute of the suite's wall time).
SLOW_FIRST = ("test_e2e", "test_batch", "test_import", "test_recovery_cases", "test_consent", "test_cli")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow modules (:data:`SLOW_FIRST`) first, every module's own order kept (a stable sort)."""
    def slow(item: pytest.Item) -> bool:
        return item.path.name.startswith(SLOW_FIRST)

    items.sort(key=lambda item: not slow(item))


@pytest.fixture(scope="session")
def baseline_rgb() -> np.ndarray:
    """The astronaut portrait enlarged to a 2048-px 'phone photo' with fine grain."""
    rgb = sim.enlarge(data.astronaut(), SIDE, np.random.default_rng(2024))
    rgb.flags.writeable = False  # shared by every test: none may change it
    return rgb


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the session (skipped, with the reason, where none can run)."""
    import pg

    reason = pg.unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = pg.Server()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """An empty store on each database backend, with its own data directory."""
    from tracker.store.db import open_store

    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").new_database()
    opened = open_store(tmp_path / "data", url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path):
    """An empty embedded store (SQLite)."""
    from tracker.store.db import open_store

    opened = open_store(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The 512 x 512 astronaut portrait, as skimage ships it."""
    return data.astronaut()


@pytest.fixture(scope="session")
def portrait(astronaut) -> np.ndarray:
    """Non-square, so a missing or wrong rotation changes the shape too."""
    return np.ascontiguousarray(astronaut[:, 64:448])


def tracker_command() -> list[str]:
    """How to run the ``tracker`` command of this environment."""
    script = Path(sys.executable).with_name("tracker")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tracker.cli"]


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A data directory holding the demo, loaded and analysed once per test session.

    Made by ``tracker --data-dir DIR demo``, as a user would; tests take copies of it
    (:func:`copy_data_dir`) instead of loading the demo again.
    """
    data_dir = tmp_path_factory.mktemp("demo-template") / "data"
    env = dict(os.environ, TRACKER_DATA_DIR=str(data_dir))
    env.pop("TRACKER_DATABASE_URL", None)
    done = subprocess.run([*tracker_command(), "--data-dir", str(data_dir), "demo"], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, f"tracker demo failed:\n{done.stdout}\n{done.stderr}"
    assert "Demo data loaded (simulated patients, not real people)." in done.stdout
    return data_dir


def copy_data_dir(source: Path, destination: Path) -> Path:
    """A copy of an embedded store's data directory (photo files linked: they are never rewritten)."""
    destination.mkdir(parents=True)
    for item in source.iterdir():
        if item.name == "photos":
            shutil.copytree(item, destination / "photos", copy_function=os.link)
        elif item.is_file():
            shutil.copy2(item, destination / item.name)
    return destination


def demo_passwords(data_dir: Path) -> dict[str, str]:
    """User name -> password of the demo accounts kept in a demo data directory."""
    passwords = {}
    for line in (data_dir / "demo-accounts.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _role, password = line.split("\t")
            passwords[name] = password
    return passwords


@pytest.fixture(scope="module")
def demo_dir(demo_template, tmp_path_factory) -> Path:
    """This test module's own copy of the demo data directory."""
    return copy_data_dir(demo_template, tmp_path_factory.mktemp("demo") / "data")


@pytest.fixture
def app_demo(demo_template, tmp_path, monkeypatch):
    """(store, demo passwords) of a copy of the demo that the app's pages (AppTest) open too."""
    import streamlit as st

    from tracker.store.db import open_store

    store = open_store(copy_data_dir(demo_template, tmp_path / "data"))
    monkeypatch.setenv("TRACKER_DATA_DIR", str(store.data_dir))
    monkeypatch.delenv("TRACKER_DATABASE_URL", raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield store, demo_passwords(store.data_dir)
    st.cache_resource.clear()
    st.cache_data.clear()
    store.close()
