"""Session fixtures shared by the tests."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from series import SIDE
from tracker.analysis import simulate as sim


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
