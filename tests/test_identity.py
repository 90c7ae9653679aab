"""The identity judge (dlib ResNet) on real faces: verification AUC on LFW pairs, self / blur / other person."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from motionmask.evaluation.identity import (
    LEAK_DISTANCE,
    SAME_PERSON_DISTANCE,
    IdentityJudge,
    distances,
    frame_identity,
    lineup,
    roc_auc,
    tar_at_far,
)
from motionmask.video import iter_frames, read_image

pytest.importorskip("dlib", reason="the identity judge needs dlib-bin (installed by make setup)")


@pytest.fixture(scope="module")
def judge():
    return IdentityJudge()


def _frame(data_dir, rel, index=10):
    for i, _, f in iter_frames(data_dir / "videos" / rel):
        if i == index:
            return f
    raise AssertionError(rel)


def test_lfw_verification_auc(judge, data_dir):
    root = data_dir / "faces/lfw-subset"
    with open(root / "pairs.csv") as fh:
        pairs = list(csv.DictReader(fh))
    names = sorted({p["file_a"] for p in pairs} | {p["file_b"] for p in pairs})
    emb = {n: judge.embed_largest(read_image(root / n)) for n in names}
    found = {n for n, e in emb.items() if e is not None}
    assert len(found) >= 0.95 * len(names), "dlib finds a face in nearly every LFW crop"
    same, diff = [], []
    for p in pairs:
        if p["file_a"] in found and p["file_b"] in found:
            d = float(distances(emb[p["file_a"]], emb[p["file_b"]])[0, 0])
            (same if p["same_identity"] == "1" else diff).append(d)
    assert roc_auc(np.array(same), np.array(diff)) >= 0.98


def test_self_blur_and_other_person(judge, data_dir):
    a = _frame(data_dir, "liveportrait/d9.mp4")
    self_d = frame_identity(judge, a, a)["min_distance"]
    assert self_d < 1e-6
    blurred = cv2.GaussianBlur(a, (0, 0), 3)
    assert frame_identity(judge, a, blurred)["min_distance"] < LEAK_DISTANCE, "blur is not de-identification"
    other = _frame(data_dir, "liveportrait/d3.mp4")
    other = cv2.resize(other, (a.shape[1], a.shape[0]))
    assert frame_identity(judge, a, other)["min_distance"] >= SAME_PERSON_DISTANCE


def test_every_face_counts(judge, data_dir):
    img = read_image(data_dir / "faces/face-recognition/two_people.jpg")
    faces = judge.faces(img)
    assert len(faces) == 2
    # blank out one face: the other one still leaks
    x0, y0, x1, y1 = faces[0].box
    covered = img.copy()
    covered[max(y0, 0):y1, max(x0, 0):x1] = 0
    assert frame_identity(judge, img, covered)["min_distance"] < LEAK_DISTANCE


def test_lineup_finds_the_patient_and_not_a_stranger(judge, data_dir):
    gallery = {}
    for rel in ["liveportrait/d18.mp4", "liveportrait/d3.mp4", "liveportrait/d9.mp4", "liveportrait/d0.mp4"]:
        gallery[rel.split("/")[1][:-4]] = np.stack([judge.embed_largest(_frame(data_dir, rel, i)) for i in (5, 40)])
    # later frames of d9 (not in the gallery) are matched to d9
    probe = np.stack([judge.embed_largest(_frame(data_dir, "liveportrait/d9.mp4", i)) for i in (150, 300, 450)])
    found = lineup(probe, gallery, patient="d9")
    assert found["rank1"] == 1.0 and found["auc"] > 0.9
    stranger = np.stack([judge.embed_largest(_frame(data_dir, "liveportrait/d10.mp4", i)) for i in (10, 60)])
    assert lineup(stranger, gallery, patient="d9")["rank1"] == 0.0


def test_roc_helpers():
    assert roc_auc(np.array([0.1, 0.2]), np.array([0.5, 0.6])) == 1.0
    assert roc_auc(np.array([0.5]), np.array([0.5])) == 0.5
    assert tar_at_far(np.array([0.1, 0.9]), np.linspace(0.3, 1.0, 100), 0.1) == 0.5
