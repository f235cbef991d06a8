"""Session fixtures shared by the tests."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from series import SIDE
from tracker import simulate as sim


@pytest.fixture(scope="session")
def baseline_rgb() -> np.ndarray:
    """The astronaut portrait enlarged to a 2048-px 'phone photo' with fine grain."""
    return sim.enlarge(data.astronaut(), SIDE, np.random.default_rng(2024))
