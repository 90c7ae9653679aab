"""Shared fixtures: the team's real test media (../shared/data) and small real-face inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("MOTIONMASK_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DATA = SHARED / "data"


def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"the team's real test media are not here ({DATA} is absent); this test needs them")
    return DATA


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return shared_data()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()
