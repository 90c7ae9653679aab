"""The FP32 PyTorch teachers: MediaPipe's face detector, face mesh, iris/eyelid and BlazePose (detector + full
landmark) models.

Each teacher wraps a :class:`TFLiteGraphModule` built from the original TFLite file (weights from the mediapipe
wheel, see ``weights.py``) and names its outputs as the bundle does. Inputs are NCHW float32 in the value range of
``teachers.json``; outputs keep MediaPipe's units (crop pixels for landmarks, logits for scores).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from motionmask_compress.zoo import register_model
from motionmask_compress.zoo.tflite_graph import TFLiteGraphModule
from motionmask_compress.zoo.weights import manifest, teacher_path


class Teacher(nn.Module):
    """A MediaPipe model as a PyTorch module with named, reshaped outputs.

    Attributes:
        role: face_detector, face_mesh, iris, pose_detector or pose_landmark.
        spec: the role's entry of teachers.json (input size, value range, output shapes).
    """

    def __init__(self, role: str, net: TFLiteGraphModule | None = None):
        super().__init__()
        self.role = role
        self.spec = manifest()["models"][role]
        self.output_names = tuple(self.spec["outputs"])
        self.net = net if net is not None else TFLiteGraphModule(teacher_path(role).read_bytes(), self.output_names)

    def input_shape(self) -> tuple[int, int, int, int]:
        h, w = self.spec["input"]["size"]
        return (1, 3, h, w)

    def export_form(self, **rewrites: bool) -> Teacher:
        """An equivalent copy for the exporters (:meth:`TFLiteGraphModule.export_form`); this one is unchanged."""
        twin = copy.copy(self)
        twin._modules = dict(self._modules)
        twin.net = self.net.export_form(**rewrites)
        return twin

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = self.net(image)
        return tuple(
            y.reshape((y.shape[0], *self.spec["outputs"][n][1:])) for n, y in zip(self.output_names, outs)
        )


@register_model("face_detector_teacher")
def face_detector_teacher() -> Teacher:
    return Teacher("face_detector")


@register_model("face_mesh_teacher")
def face_mesh_teacher() -> Teacher:
    return Teacher("face_mesh")


@register_model("iris_teacher")
def iris_teacher() -> Teacher:
    return Teacher("iris")


@register_model("pose_detector_teacher")
def pose_detector_teacher() -> Teacher:
    """BlazePose detector (pose_detection.tflite): 224x224 in [-1, 1] -> 2254 SSD boxes (face box + 4 keypoints)."""
    return Teacher("pose_detector")


@register_model("pose_landmark_teacher")
def pose_landmark_teacher() -> Teacher:
    """BlazePose GHUM full (pose_landmark_full.tflite): 256x256 in [0, 1] -> 39 landmarks (33 + 6 auxiliary) with
    raw visibility/presence logits, pose flag (already a probability), segmentation logits, 64x64 heatmaps, world
    landmarks."""
    return Teacher("pose_landmark")
