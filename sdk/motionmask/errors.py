"""Typed errors of the MotionMask runtime. Every error carries a message a user can act on."""

from __future__ import annotations


class MotionMaskError(Exception):
    """Base class of every error MotionMask raises on purpose."""


class BundleError(MotionMaskError):
    """A bundle file is missing, truncated, tampered with, or of an unknown schema."""


class BackendUnavailableError(MotionMaskError):
    """An inference backend is unknown or its package is not installed (the message gives the install hint)."""


class RunningModeError(MotionMaskError):
    """A method was called that does not match the running mode (IMAGE vs VIDEO), or timestamps went backwards."""


class InvalidInputError(MotionMaskError):
    """An image or video is unreadable, empty, or of the wrong shape or dtype."""


class WeightsError(MotionMaskError):
    """Teacher weights are missing from the cache or fail their sha256 check."""
