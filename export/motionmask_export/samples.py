"""Real face inputs for validation and calibration: crops the tracking pipeline feeds each model.

The FP32 PyTorch teachers drive the runtime's own :class:`FaceTracker` over sample images (always
``skimage.data.astronaut()``, public domain; plus frames of the team's test videos when ../shared/data is
present), and every model input the tracker produces is recorded. So parity is measured on exactly the crops the
runtime makes, not on synthetic tensors.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode
from motionmask_compress.zoo import create_model
from motionmask_compress.zoo.weights import manifest as teacher_manifest

ROLES = ("face_detector", "face_mesh", "iris")
SHARED_DATA = Path(os.environ.get("MOTIONMASK_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "data"
# Validation videos: a few frames from each (different people, glasses, expressions, a 3/4 view).
_VIDEOS = ("liveportrait/d3.mp4", "liveportrait/d9.mp4", "liveportrait/d12.mp4", "video-retalking/1.mp4",
           "tpsmm/driving.mp4")


class TorchModel:
    """A PyTorch teacher behind the runtime's model interface (NCHW array in, named arrays out)."""

    def __init__(self, module: torch.nn.Module, device: torch.device | None = None):
        self.device = device or torch.device("cpu")
        self.module = module.to(self.device).eval()

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            outs = self.module(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
        return {n: o.float().cpu().numpy() for n, o in zip(self.module.output_names, outs)}


def teacher_tracker(options: FaceTrackerOptions = FaceTrackerOptions(), device=None,
                    models: dict | None = None) -> FaceTracker:
    """A FaceTracker running the FP32 teachers (the full-precision reference pipeline); ``models`` (role ->
    callable on the NCHW input, e.g. a ModelRunner) replaces the teacher of those roles."""
    pipeline = json.loads(files("motionmask").joinpath("data/mediapipe_face.json").read_text())
    models, pre = dict(models or {}), {}
    for role in ROLES:
        if role not in models:
            models[role] = TorchModel(create_model(f"{role}_teacher"), device)
        spec = teacher_manifest()["models"][role]["input"]
        pre[role] = (tuple(spec["size"]), tuple(spec["value_range"]))
    return FaceTracker(models, pipeline, pre, options)


def sample_images(frames_per_video: int = 3) -> list[np.ndarray]:
    """astronaut + (if present) a few frames of several test videos, RGB uint8."""
    from skimage import data

    from motionmask.video import iter_frames

    images = [data.astronaut()]
    if SHARED_DATA.is_dir():
        for rel in _VIDEOS:
            path = SHARED_DATA / "videos" / rel
            if path.is_file():
                frames = [f for _, _, f in iter_frames(path, max_frames=60)]
                images += frames[:: max(1, len(frames) // frames_per_video)][:frames_per_video]
    return images


@lru_cache(maxsize=2)
def _model_inputs(frames_per_video: int) -> dict[str, np.ndarray]:
    collected: dict[str, list[np.ndarray]] = {r: [] for r in ROLES}
    tracker = teacher_tracker(FaceTrackerOptions(running_mode=RunningMode.IMAGE, max_faces=2))
    tracker.crop_sink = lambda role, x: collected[role].append(x[0].copy())
    faces = []
    for img in sample_images(frames_per_video):
        faces += [(img, np.asarray(f.landmarks, np.float64)) for f in tracker.track(img).faces]
    out = {r: np.stack(v).astype(np.float32) for r, v in collected.items()}
    out["swap_generator"] = generator_inputs(faces)
    return out


def generator_inputs(faces: list[tuple[np.ndarray, np.ndarray]], limit: int = 8) -> np.ndarray:
    """(N, 7, S, S) swap-generator inputs from real faces: face i's appearance warped onto face i+1's mesh (the
    last onto the first; a single face onto itself)."""
    from motionmask.swap.align import align_face
    from motionmask.swap.warp import generator_input

    aligned = [align_face(img, lm)[:2] for img, lm in faces[:limit]]
    return np.stack([generator_input(crop, lm, aligned[(i + 1) % len(aligned)][1])[0]
                     for i, (crop, lm) in enumerate(aligned)]).astype(np.float32)


def model_inputs(frames_per_video: int = 3, progress: bool = False) -> dict[str, np.ndarray]:
    """Role -> (N, C, H, W) float32 model inputs from real faces (cached per process)."""
    return _model_inputs(frames_per_video)


def video_model_inputs(videos: tuple[str, ...], samples: int, seed: int = 0, progress: bool = False
                       ) -> dict[str, np.ndarray]:
    """Role -> up to ``samples`` model inputs the FP32 teacher pipeline makes on real videos (VIDEO mode, every
    frame; drawn evenly at random), e.g. a recipe's calibration videos (names relative to ../shared/data/videos).

    Raises:
        FileNotFoundError: a video is missing.
    """
    from tqdm import tqdm

    from motionmask.video import iter_frames

    collected: dict[str, list[np.ndarray]] = {r: [] for r in ROLES}
    for rel in tqdm(videos, desc="calibration crops", unit="video", disable=not progress):
        path = SHARED_DATA / "videos" / rel
        if not path.is_file():
            raise FileNotFoundError(f"calibration video {path} not found")
        tracker = teacher_tracker(FaceTrackerOptions(running_mode=RunningMode.VIDEO, max_faces=1))
        tracker.crop_sink = lambda role, x: collected[role].append(x[0].copy())
        # VIDEO mode runs the detector only until a face is tracked: an IMAGE-mode tracker on every 5th frame
        # gives the detector its inputs.
        detector = teacher_tracker(FaceTrackerOptions(running_mode=RunningMode.IMAGE, max_faces=1))

        def detector_only(role: str, x: np.ndarray) -> None:
            if role == "face_detector":
                collected[role].append(x[0].copy())

        detector.crop_sink = detector_only
        for i, ts, frame in iter_frames(path):
            tracker.track_for_video(frame, ts)
            if i % 5 == 0:
                detector.track(frame)
    rng = np.random.default_rng(seed)
    out = {}
    for role, xs in collected.items():
        idx = np.sort(rng.choice(len(xs), min(samples, len(xs)), replace=False))
        out[role] = np.stack([xs[i] for i in idx]).astype(np.float32)
    return out
