"""MotionMask runtime: face tracking (and, later, de-identification) from a verified model bundle.

Importing this package loads only numpy/OpenCV-level code; inference runtimes load when a backend is used.
"""

from motionmask.errors import (
    BackendUnavailableError,
    BundleError,
    InvalidInputError,
    MotionMaskError,
    RunningModeError,
    WeightsError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "BundleError",
    "FaceTracker",
    "FaceTrackerOptions",
    "FaceTrackerResult",
    "InvalidInputError",
    "MotionMaskError",
    "RunningMode",
    "RunningModeError",
    "WeightsError",
]


def __getattr__(name):  # lazy: keeps `import motionmask` light
    if name in ("FaceTracker", "FaceTrackerOptions", "FaceTrackerResult", "RunningMode"):
        from motionmask.tracking import tracker

        return getattr(tracker, name)
    raise AttributeError(name)
