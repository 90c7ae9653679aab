"""Face tracking: detector -> face mesh -> iris/eyelid per eye, with ROI tracking between video frames.

The detector runs only when fewer faces are tracked than ``max_faces`` (a track is lost or a new face may have
entered); otherwise each face's region of interest comes from its landmarks on the previous frame, as in
MediaPipe's FaceMesh. Output per face: the MediaPipe 478-point layout in image pixels (0-467 mesh with the eye
points refined by the iris/eyelid model, 468-477 iris), plus confidence and box.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from motionmask.errors import InvalidInputError, RunningModeError
from motionmask.tracking import detection as det
from motionmask.tracking import roi as roi_mod
from motionmask.tracking.anchors import generate_anchors
from motionmask.tracking.scan import TileScanCache, scan_tiles
from motionmask.tracking.smoothing import OneEuroFilter

ModelFn = Callable[[np.ndarray], dict[str, np.ndarray]]


class RunningMode(enum.Enum):
    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"  # de-identifier only (async, results by callback); the tracker runs it as VIDEO


@dataclass(frozen=True)
class FaceTrackerOptions:
    """Options of a :class:`FaceTracker`.

    Args:
        bundle_path: bundle file with the three models (default: the bundle `make setup` built).
        backend: inference backend name (default: by the bundle's format).
        running_mode: IMAGE (independent images) or VIDEO (frames with increasing timestamps, ROI tracking).
        max_faces: most faces tracked per frame.
        min_detection_confidence: detector score threshold.
        min_presence_confidence: face-mesh presence threshold below which a track is dropped.
        smoothing: One-Euro filter on the landmarks (VIDEO mode only).
        num_threads: inference threads per model (None: the runtime's default).
    """

    bundle_path: str | None = None
    backend: str | None = None
    running_mode: RunningMode = RunningMode.IMAGE
    max_faces: int = 1
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    smoothing: bool = False
    smoothing_min_cutoff: float = 0.05
    smoothing_beta: float = 80.0
    num_threads: int | None = None


@dataclass
class TrackedFace:
    """One face: 478 landmarks (x, y, z) in image pixels, presence confidence, box (x0, y0, x1, y1)."""

    landmarks: np.ndarray
    confidence: float
    box: tuple[float, float, float, float]
    roi: roi_mod.Rect
    next_roi: roi_mod.Rect | None = None  # where to look on the next video frame


@dataclass
class FaceTrackerResult:
    faces: list[TrackedFace] = field(default_factory=list)
    timestamp_ms: float | None = None


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(x, -80, 80))))


class FaceTracker:
    """Tracks faces in images or video frames.

    Args:
        models: role -> callable taking the preprocessed NCHW input and returning named outputs
            (``face_detector``: regressors/classificators, ``face_mesh``: landmarks/face_flag,
            ``iris``: eye_contour/iris). Bundles give :class:`motionmask.runner.ModelRunner` objects; the
            build tools pass PyTorch teachers through the same interface.
        pipeline: the pipeline parameters (bundle.json ``pipeline``: anchors, ROI rules, index maps).
        preprocessing: role -> (input size (h, w), value range).
        options: tracker options.
    """

    def __init__(self, models: dict[str, ModelFn], pipeline: dict, preprocessing: dict, options: FaceTrackerOptions,
                 on_close: Callable[[], None] | None = None):
        self.options = options
        self._models = models
        self._p = pipeline
        self._pre = preprocessing
        self._anchors = generate_anchors(pipeline["face_detection"]["anchors"])
        self._tracks: list[roi_mod.Rect] = []
        self._filters: list[OneEuroFilter | None] = []
        self._last_ts: float | None = None
        self._on_close = on_close
        self.crop_sink: Callable[[str, np.ndarray], None] | None = None  # sees every model input (calibration)
        # whole-frame detections of the latest call (None when it ran no detector: max_faces already tracked)
        self.last_detections: list[roi_mod.Rect] | None = None

    # ---- construction ---------------------------------------------------------------------------------------------
    @classmethod
    def create_from_options(cls, options: FaceTrackerOptions) -> FaceTracker:
        """Open the bundle's three models in the chosen backend."""
        from motionmask.backends import SessionOptions
        from motionmask.bundle import Bundle
        from motionmask.defaults import default_bundle_path
        from motionmask.runner import ModelRunner

        bundle = Bundle(options.bundle_path or default_bundle_path())
        session_options = SessionOptions(num_threads=options.num_threads)
        models, pre = {}, {}
        for role in ("face_detector", "face_mesh", "iris"):
            spec = bundle.models[role]
            models[role] = ModelRunner(spec, bundle.model_path(role), options.backend, session_options)
            pre[role] = (spec.preprocessing.size, spec.preprocessing.value_range)
        pipeline = bundle.pipeline
        bundle.close()
        return cls(models, pipeline, pre, options)

    def close(self) -> None:
        self._models = {}
        if self._on_close:
            self._on_close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- public API -----------------------------------------------------------------------------------------------
    def track(self, image: np.ndarray) -> FaceTrackerResult:
        """Track faces in one independent RGB image (IMAGE mode)."""
        if self.options.running_mode is not RunningMode.IMAGE:
            raise RunningModeError("track() needs running_mode=IMAGE; use track_for_video() in VIDEO mode")
        self._check_image(image)
        return FaceTrackerResult(self._process(image, tracks=[], smooth_ts=None))

    def track_for_video(self, image: np.ndarray, timestamp_ms: float) -> FaceTrackerResult:
        """Track faces in the next RGB video frame (VIDEO mode); timestamps must increase."""
        if self.options.running_mode is not RunningMode.VIDEO:
            raise RunningModeError("track_for_video() needs running_mode=VIDEO; use track() in IMAGE mode")
        if self._last_ts is not None and timestamp_ms <= self._last_ts:
            raise RunningModeError(
                f"timestamps must increase: got {timestamp_ms} ms after {self._last_ts} ms"
            )
        self._check_image(image)
        self._last_ts = timestamp_ms
        faces = self._process(image, tracks=self._tracks, smooth_ts=timestamp_ms)
        self._tracks = [f.next_roi for f in faces]
        return FaceTrackerResult(faces, timestamp_ms)

    @staticmethod
    def _check_image(image: np.ndarray) -> None:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            shape = getattr(image, "shape", None)
            raise InvalidInputError(f"expected an RGB image of shape (H, W, 3), got {shape}")
        if image.dtype != np.uint8:
            raise InvalidInputError(f"expected a uint8 image, got {image.dtype}")
        if image.shape[0] < 8 or image.shape[1] < 8:
            raise InvalidInputError(f"image of shape {image.shape} is too small")

    # ---- pipeline -------------------------------------------------------------------------------------------------
    def _run(self, role: str, x: np.ndarray) -> dict[str, np.ndarray]:
        """Run one model on an NCHW float input (recorded by ``crop_sink`` when set)."""
        if self.crop_sink is not None:
            self.crop_sink(role, x)
        return self._models[role](x)

    def _crop_input(self, role: str, image: np.ndarray, rect: roi_mod.Rect, flip: bool = False) -> np.ndarray:
        size = self._pre[role][0]
        return roi_mod.crop_tensor(image, rect, (size[1], size[0]), self._pre[role][1], flip_horizontal=flip,
                                   border_mode="replicate")

    def _detect(self, image: np.ndarray) -> list[roi_mod.Rect]:
        p = self._p["face_detection"]
        x, letterbox = det.prepare_detector_input(image, p, layout="NCHW")
        out = self._run("face_detector", x)
        found = det.decode_detections(out["regressors"], out["classificators"], self._anchors, p,
                                      self.options.min_detection_confidence)
        found = det.weighted_nms(found, p["nms"]["min_suppression_threshold"])
        h, w = image.shape[:2]
        found = det.project_detections(found, letterbox, (w, h))
        return [roi_mod.rect_from_detection(d.box_norm, d.keypoints_norm, (w, h), self._p["face_roi_from_detection"])
                for d in found]

    def detect_all(self, image: np.ndarray, min_tile_px: int = 192, tile_overlap: float = 0.25,
                   full_frame: list[roi_mod.Rect] | None = None,
                   skip_tile: Callable[[int, int, int, int], bool] | None = None,
                   cache: TileScanCache | None = None) -> list[roi_mod.Rect]:
        """Every face the detector finds, small ones too: the whole frame plus the tiles of
        :func:`motionmask.tracking.scan.scan_tiles`. Used to fail closed.

        ``full_frame``: the whole-frame detections when already computed for this image (``last_detections`` after
        a track call); ``skip_tile(x0, y0, x1, y1)``: True for tiles that need no scan (e.g. wholly inside a region
        that is covered anyway); ``cache``: a video stream's :class:`TileScanCache` (its ``new_frame`` already
        called for this image): a tile whose uncovered pixels have not changed since its last scan reuses that
        scan's detections.
        """
        h, w = image.shape[:2]
        rects = list(self._detect(image) if full_frame is None else full_frame)
        for x, y, side in scan_tiles(h, w, min_tile_px, tile_overlap):
            if skip_tile is not None and skip_tile(x, y, x + side, y + side):
                continue
            found = cache.lookup(x, y, side) if cache is not None else None
            if found is None:
                found = [roi_mod.Rect(r.center_x_px + x, r.center_y_px + y, r.width_px, r.height_px, r.rotation_rad)
                         for r in self._detect(image[y:y + side, x:x + side])]
                if cache is not None:
                    cache.store(x, y, side, found)
            rects.extend(found)
        return rects

    def _process(self, image: np.ndarray, tracks: list[roi_mod.Rect], smooth_ts: float | None) -> list[TrackedFace]:
        rois = list(tracks)
        self.last_detections = None
        if len(rois) < self.options.max_faces:
            self.last_detections = self._detect(image)
            for cand in self.last_detections:
                if len(rois) >= self.options.max_faces:
                    break
                # A detection that overlaps a tracked face is that face: keep the tracked ROI.
                if all(roi_mod.rect_iou(cand, r) <= self._p["face_tracking"]["association_min_iou"] for r in rois):
                    rois.append(cand)
        faces: list[TrackedFace] = []
        for i, rect in enumerate(rois):
            face = self._mesh(image, rect)
            if face is None:
                continue
            if smooth_ts is not None and self.options.smoothing:
                face.landmarks = self._smooth(i, face.landmarks, smooth_ts, rect)
            faces.append(face)
        if smooth_ts is not None:
            self._filters = self._filters[: len(faces)]
        return faces

    def _mesh(self, image: np.ndarray, rect: roi_mod.Rect) -> TrackedFace | None:
        out = self._run("face_mesh", self._crop_input("face_mesh", image, rect))
        score = _sigmoid(float(out["face_flag"].reshape(-1)[0]))
        if score < self.options.min_presence_confidence:
            return None
        size = self._pre["face_mesh"][0]
        mesh = roi_mod.project(out["landmarks"].reshape(-1, 3), rect, (size[1], size[0]))
        landmarks = self._refine_eyes(image, mesh)
        xy = landmarks[:, :2]
        box = (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))
        return TrackedFace(landmarks.astype(np.float32), score, box, rect,
                           roi_mod.rect_from_landmarks(mesh, self._p["face_roi_from_landmarks"]))

    def _refine_eyes(self, image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
        """MediaPipe's 478 layout: the iris model's eye contour replaces the mesh's eye x, y (mesh z kept);
        the 5 iris points per eye are appended with z = mean mesh z of the eye contour."""
        p = self._p["iris_landmark"]
        size = self._pre["iris"][0]
        out = np.concatenate([mesh, np.zeros((10, 3))])
        for eye in p["eyes"].values():
            a, b = eye["corner_landmarks"]
            rect = roi_mod.rect_from_eye_corners(mesh[a], mesh[b], p["roi"])
            flip = bool(eye["flip_horizontal"])
            res = self._run("iris", self._crop_input("iris", image, rect, flip))
            contour = roi_mod.project(res["eye_contour"].reshape(-1, 3), rect, (size[1], size[0]), flipped=flip)
            iris = roi_mod.project(res["iris"].reshape(-1, 3), rect, (size[1], size[0]), flipped=flip)
            idx = np.asarray(eye["contour_mesh_indices"])
            out[idx, :2] = contour[: len(idx), :2]
            iris[:, 2] = mesh[np.asarray(eye["iris_z_average_mesh_indices"]), 2].mean()
            out[np.asarray(eye["iris_indices_478"])] = iris
        return out

    def _smooth(self, i: int, landmarks: np.ndarray, timestamp_ms: float, rect: roi_mod.Rect) -> np.ndarray:
        while len(self._filters) <= i:
            self._filters.append(None)
        if self._filters[i] is None:
            self._filters[i] = OneEuroFilter(min_cutoff=self.options.smoothing_min_cutoff,
                                             beta=self.options.smoothing_beta)
        # Speeds in face widths per second (MediaPipe passes 1 / object scale), so one setting fits any resolution.
        return self._filters[i].apply(landmarks, timestamp_ms / 1000.0, value_scale=1.0 / max(rect.width_px, 1.0))
