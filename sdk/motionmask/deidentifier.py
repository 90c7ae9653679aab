"""FaceDeidentifier: the on-device API (mirrored in Kotlin and Swift with the same names).

    with FaceDeidentifier.create_from_options(FaceDeidentifierOptions(
            base_options=BaseOptions(bundle_path=...), running_mode=RunningMode.VIDEO, mode=Mode.MASK)) as d:
        result = d.deidentify_for_video(frame_rgb, timestamp_ms)

Fail closed: every face the tracker follows is replaced; a face the detector sees that is not replaced is covered
(strong blur); a frame in which no face could be replaced, or (video) in which a face replaced in the previous frame
is neither replaced nor covered (a lost track), is covered whole.
"""

from __future__ import annotations

import enum
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from motionmask.errors import InvalidInputError, RunningModeError
from motionmask.render.compose import FailClosedPolicy, cover, cover_all, face_region
from motionmask.tracking.scan import TileScanCache
from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode, TrackedFace

__all__ = ["BaseOptions", "DeidentifiedFace", "FaceDeidentifier", "FaceDeidentifierOptions",
           "FaceDeidentifierResult", "Mode", "RunningMode"]


class Mode(enum.Enum):
    MASK = "mask"  # Digital Mask: shaded 3D avatar carrying the motion
    SWAP = "swap"  # FaceMotionPreserve: a source face painted by the generator, carrying the motion


@dataclass(frozen=True)
class BaseOptions:
    """Where the models come from.

    Args:
        bundle_path: bundle file (default: the bundle `make setup` built).
        backend: inference backend name (default: by the bundle's format).
        num_threads: inference threads per model.
    """

    bundle_path: str | None = None
    backend: str | None = None
    num_threads: int | None = None


@dataclass(frozen=True)
class FaceDeidentifierOptions:
    """Options of a :class:`FaceDeidentifier`.

    Args:
        base_options: bundle and backend.
        running_mode: IMAGE, VIDEO (increasing timestamps) or LIVE_STREAM (``deidentify_async`` + callback).
        mode: MASK (3D mask) or SWAP (a source face painted by the bundle's ``swap_generator``).
        source_path: SWAP only: the source face (.npz from ``motionmask make-source`` / ``enroll``; default: the
            bundle's embedded source, else the synthetic source `make setup` builds).
        max_faces: most faces replaced per frame; further detected faces are covered.
        cover_frames_without_face: cover the whole frame when no face could be replaced (fail closed).
        cover_mode: how faces that cannot be replaced are covered: "blur" (reduced to a few cells and blurred) or
            "fill" (solid grey).
        avatar_only: draw the masks on a plain background instead of the frame (an "avatar video": nothing of
            the original frame is shown; a frame without a face is plain background).
        reuse_unchanged_tiles: VIDEO / LIVE_STREAM: a tile of the fail-closed detector scan whose pixels outside the
            replaced faces' regions have not changed since its last scan (8x8-block means within 6/255, at most 10
            frames) reuses that scan's detections instead of running the detector again
            (:class:`motionmask.tracking.scan.TileScanCache`). False: every tile is scanned on every frame.
        result_callback: LIVE_STREAM only: called with (result, image, timestamp_ms).
    """

    base_options: BaseOptions = BaseOptions()
    running_mode: RunningMode = RunningMode.IMAGE
    mode: Mode = Mode.MASK
    source_path: str | None = None
    max_faces: int = 4
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    cover_frames_without_face: bool = True
    cover_mode: str = "blur"
    avatar_only: bool = False
    reuse_unchanged_tiles: bool = True
    result_callback: Callable | None = None


@dataclass
class DeidentifiedFace:
    """One face of a result.

    ``box`` is where the original face was (x0, y0, x1, y1 pixels); ``landmarks`` (478, 3) and ``iris`` (10, 3) are
    those of the face drawn in the output (the template (mask) or the source (swap) carrying the motion, not the
    patient's shape; NaN when the face was only covered); ``replaced`` is False when the face could not be fitted and
    was covered instead; ``signals`` holds the motion parameters (pose, EAR, lid aperture, eyeball angles, motion
    offsets).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    iris: np.ndarray
    confidence: float
    replaced: bool
    signals: dict = field(default_factory=dict)


@dataclass
class FaceDeidentifierResult:
    image: np.ndarray
    faces: list[DeidentifiedFace]
    covered_regions: list[tuple[int, int, int, int]]
    frame_covered: bool
    timestamp_ms: float | None = None


class FaceDeidentifier:
    """De-identifies faces in images or video frames (see module docstring)."""

    def __init__(self, tracker: FaceTracker, options: FaceDeidentifierOptions, renderer):
        self.options = options
        self._tracker = tracker
        self._renderer = renderer
        self._policy = FailClosedPolicy(mode=options.cover_mode)
        self._last_ts: float | None = None
        self._queue: queue.Queue | None = None
        self._worker: threading.Thread | None = None
        self._previous: list[tuple] = []  # boxes of the faces replaced in the previous video frame
        video = options.running_mode is not RunningMode.IMAGE
        self._scan_cache = TileScanCache() if video and options.reuse_unchanged_tiles else None

    @classmethod
    def create_from_options(cls, options: FaceDeidentifierOptions) -> FaceDeidentifier:
        if options.running_mode is RunningMode.LIVE_STREAM and options.result_callback is None:
            raise RunningModeError("LIVE_STREAM needs a result_callback")
        tracker_mode = RunningMode.IMAGE if options.running_mode is RunningMode.IMAGE else RunningMode.VIDEO
        base = options.base_options
        tracker = FaceTracker.create_from_options(FaceTrackerOptions(
            bundle_path=base.bundle_path, backend=base.backend, running_mode=tracker_mode,
            max_faces=options.max_faces, min_detection_confidence=options.min_detection_confidence,
            min_presence_confidence=options.min_presence_confidence, num_threads=base.num_threads))
        video = tracker_mode is RunningMode.VIDEO
        if options.mode is Mode.SWAP:
            try:
                return cls(tracker, options, _swap_pipeline(options, video))
            except BaseException:
                tracker.close()
                raise
        from motionmask.deid_mask import MaskPipeline

        return cls(tracker, options, MaskPipeline(video))

    # ---- API ------------------------------------------------------------------------------------------------------
    def deidentify(self, image: np.ndarray) -> FaceDeidentifierResult:
        """De-identify one independent RGB image (IMAGE mode)."""
        if self.options.running_mode is not RunningMode.IMAGE:
            raise RunningModeError("deidentify() needs running_mode=IMAGE")
        return self._process(image, None)

    def deidentify_for_video(self, image: np.ndarray, timestamp_ms: float) -> FaceDeidentifierResult:
        """De-identify the next RGB video frame (VIDEO mode); timestamps must increase."""
        if self.options.running_mode is not RunningMode.VIDEO:
            raise RunningModeError("deidentify_for_video() needs running_mode=VIDEO")
        return self._process(image, self._check_ts(timestamp_ms))

    def deidentify_async(self, image: np.ndarray, timestamp_ms: float) -> None:
        """Queue a frame (LIVE_STREAM mode); the result goes to ``result_callback`` in order."""
        if self.options.running_mode is not RunningMode.LIVE_STREAM:
            raise RunningModeError("deidentify_async() needs running_mode=LIVE_STREAM")
        ts = self._check_ts(timestamp_ms)
        FaceTracker._check_image(image)
        if self._worker is None:
            self._queue = queue.Queue(maxsize=4)
            self._worker = threading.Thread(target=self._drain, daemon=True)
            self._worker.start()
        self._queue.put((image, ts))

    def close(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None
        self._tracker.close()

    def __enter__(self) -> FaceDeidentifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def scan_stats(self) -> dict[str, int]:
        """Tiles of the fail-closed scan run through the detector and reused unchanged, since creation."""
        c = self._scan_cache
        return {"scanned": c.scanned if c else 0, "reused": c.reused if c else 0}

    # ---- internals ------------------------------------------------------------------------------------------------
    def _check_ts(self, timestamp_ms: float) -> float:
        if self._last_ts is not None and timestamp_ms <= self._last_ts:
            raise RunningModeError(f"timestamps must increase: got {timestamp_ms} ms after {self._last_ts} ms")
        self._last_ts = timestamp_ms
        return timestamp_ms

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            image, ts = item
            self.options.result_callback(self._process(image, ts), image, ts)

    def _process(self, image: np.ndarray, timestamp_ms: float | None) -> FaceDeidentifierResult:
        FaceTracker._check_image(image)
        if timestamp_ms is None:
            tracked = self._tracker.track(image).faces
        else:
            tracked = self._tracker.track_for_video(image, timestamp_ms).faces
        # Fail closed: any face the detector sees that is not tracked is covered. The covers go on first and the
        # masks on top, so a cover box (a false detection next to a face, say) never hides part of a mask. Tiles
        # wholly inside a tracked face's region need no scan: that region is covered by the mask's surround anyway.
        hoods = []
        for f in tracked:
            try:
                hoods.append(face_region(np.asarray(f.landmarks, np.float64), self._renderer.policy)
                             .astype(np.float32))
            except ValueError:
                pass

        def inside_hood(x0: int, y0: int, x1: int, y1: int) -> bool:
            corners = ((x0, y0), (x1, y0), (x0, y1), (x1, y1))
            return any(all(cv2.pointPolygonTest(h, (float(x), float(y)), False) >= 0 for x, y in corners)
                       for h in hoods)

        covered, base = [], image
        if self.options.avatar_only:  # nothing of the frame is shown: the masks go on a plain background
            base = np.empty_like(image)
            base[:] = self._renderer.style.background
        else:
            if self._scan_cache is not None:
                self._scan_cache.new_frame(image, hoods)
            for rect in self._tracker.detect_all(image, full_frame=self._tracker.last_detections,
                                                 skip_tile=inside_hood, cache=self._scan_cache):
                if not any(_overlaps(rect, f) for f in tracked):
                    box = _rect_box(rect)
                    base = cover(base, box, self._policy)
                    covered.append(box)
        out, faces = self._renderer.render(base, tracked, timestamp_ms)
        # Fail closed over time: a face replaced in the previous video frame that is neither replaced nor covered now
        # means a track was lost (the face may still be there, turned or occluded): the whole frame is covered.
        lost = timestamp_ms is not None and any(
            not any(_box_contains(b, _centre(f.box)) or _box_contains(f.box, _centre(b)) for f in faces)
            and not any(_box_contains(c, _centre(b)) for c in covered)
            for b in self._previous)
        self._previous = [f.box for f in faces if f.replaced] if timestamp_ms is not None else []
        frame_covered = False
        if (lost or not any(f.replaced for f in faces)) and self.options.cover_frames_without_face \
                and not self.options.avatar_only:
            out = cover_all(out, self._policy)
            frame_covered = True
        return FaceDeidentifierResult(out, faces, covered, frame_covered, timestamp_ms)


def _swap_pipeline(options: FaceDeidentifierOptions, video: bool):
    """The swap renderer: the bundle's ``swap_generator`` and the source face."""
    from motionmask.backends import SessionOptions
    from motionmask.bundle import Bundle
    from motionmask.defaults import default_bundle_path, default_source_path
    from motionmask.errors import BundleError
    from motionmask.runner import ModelRunner
    from motionmask.swap.pipeline import SwapPipeline
    from motionmask.swap.source import Source

    base = options.base_options
    with Bundle(base.bundle_path or default_bundle_path()) as bundle:
        if options.source_path is not None:
            source = Source.load(options.source_path)
        elif (embedded := bundle.asset("source")) is not None:
            source = Source.from_bytes(embedded, f"{bundle.path}:source")
        else:
            source = Source.load(default_source_path())
        if "swap_generator" not in bundle.models:
            raise BundleError(f"bundle {bundle.path} has no swap_generator (build one with `motionmask-build bundle "
                              "--generator WEIGHTS.pt`) : swap mode needs it")
        spec = bundle.models["swap_generator"]
        runner = ModelRunner(spec, bundle.model_path("swap_generator"), base.backend,
                             SessionOptions(num_threads=base.num_threads))
    size = spec.inputs[0].shape[-1]
    if source.image.shape[0] != size:
        raise InvalidInputError(f"source crop is {source.image.shape[0]} px but the generator takes {size} px")
    return SwapPipeline(lambda x: runner(x)["face"], source, video)


def _overlaps(rect, face: TrackedFace) -> bool:
    """A detection belongs to a replaced face when its centre lies inside that face's landmark box."""
    x0, y0, x1, y1 = face.box
    return x0 <= rect.center_x_px <= x1 and y0 <= rect.center_y_px <= y1


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


def _box_contains(box, point) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _rect_box(rect) -> tuple[float, float, float, float]:
    return (rect.center_x_px - rect.width_px / 2, rect.center_y_px - rect.height_px / 2,
            rect.center_x_px + rect.width_px / 2, rect.center_y_px + rect.height_px / 2)
