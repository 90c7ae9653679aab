"""The students: the teachers' BlazeBlock graphs at a fraction of the channels (``prune.py``), distilled here.

A student checkpoint (``students/<role>.pt``, written by :mod:`motionmask_compress.distill.train`) holds the kept
channel indices per channel group (which fixes the architecture), the trained weights and their provenance
(recipe, data hashes, metrics; also in ``students/<role>.json``). ``create_model("face_mesh_student")`` rebuilds
the architecture from the teacher's graph and loads the weights; inputs and outputs are exactly the teacher's, so
a student drops into the same bundle slot and the same tracking pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from motionmask_compress.zoo import register_model
from motionmask_compress.zoo.prune import choose_channels, pruned_copy
from motionmask_compress.zoo.teachers import Teacher

STUDENT_DIR = Path(__file__).resolve().parent / "students"
STUDENT_ROLES = ("face_mesh", "iris")


class Student(Teacher):
    """A pruned copy of a teacher's graph with the teacher's named, reshaped outputs.

    Attributes:
        keep: kept channel indices per channel group (the architecture).
    """

    def __init__(self, teacher: Teacher, keep: dict[int, list[int]]):
        keep = {int(k): list(v) for k, v in keep.items()}
        super().__init__(teacher.role, pruned_copy(teacher.net, keep, torch.zeros(teacher.input_shape())))
        self.keep = keep


def init_student(role: str, keep_ratio: float, sample: torch.Tensor) -> Student:
    """A fresh student: the teacher's graph keeping ``keep_ratio`` of each group's channels (the most active on
    ``sample``, real crops), weights copied from the teacher."""
    teacher = Teacher(role)
    return Student(teacher, choose_channels(teacher.net, sample, keep_ratio))


def checkpoint_path(role: str) -> Path:
    return STUDENT_DIR / f"{role}.pt"


def save_student(student: Student, provenance: dict, path: Path | None = None) -> Path:
    """Write ``<role>.pt`` (keep + weights + provenance) and ``<role>.json`` (provenance) atomically."""
    path = Path(path or checkpoint_path(student.role))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"role": student.role, "keep": student.keep, "state_dict": student.state_dict(),
                "provenance": provenance}, tmp)
    tmp.replace(path)
    side = path.with_suffix(".json")
    side.with_suffix(".tmp").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    side.with_suffix(".tmp").replace(side)
    return path


def load_student(role: str, path: Path | None = None) -> Student:
    path = Path(path or checkpoint_path(role))
    if not path.is_file():
        raise FileNotFoundError(f"no trained {role} student at {path}; train one with "
                                f"`motionmask-build compress --recipe {role}_student --out DIR`")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt["role"] != role:
        raise ValueError(f"{path} holds a {ckpt['role']} student, not {role}")
    student = Student(Teacher(role), ckpt["keep"])
    student.load_state_dict(ckpt["state_dict"])
    student.provenance = ckpt["provenance"]
    return student.eval()


@register_model("face_mesh_student")
def face_mesh_student(path: Path | None = None) -> Student:
    return load_student("face_mesh", path)


@register_model("iris_student")
def iris_student(path: Path | None = None) -> Student:
    return load_student("iris", path)
