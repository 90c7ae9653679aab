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


def tflite_teacher(role: str):
    """The original MediaPipe TFLite model of a teacher role, run in ai-edge-litert: NCHW in, output list out."""
    from ai_edge_litert.interpreter import Interpreter

    from motionmask_compress.zoo.weights import teacher_path

    interp = Interpreter(model_path=str(teacher_path(role)))
    interp.allocate_tensors()

    def run(x_nchw):
        interp.set_tensor(interp.get_input_details()[0]["index"], x_nchw.transpose(0, 2, 3, 1).copy())
        interp.invoke()
        return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]

    return run
