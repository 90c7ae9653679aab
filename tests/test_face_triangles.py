"""The face-surface triangulation (data/face_triangles.json, scripts/derive_face_triangles.py): a consistently wound
manifold over the 468 mesh points, open over the eyes and the mouth."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from importlib import resources

import numpy as np
import pytest

from motionmask.render.mask import INNER_LIPS, LEFT_EYE, NUM_MESH, RIGHT_EYE, load_triangles

# MediaPipe FACEMESH_FACE_OVAL, in loop order
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)


@pytest.fixture(scope="module")
def tri() -> np.ndarray:
    return load_triangles()


def _edges(tri: np.ndarray) -> list[tuple[int, int]]:
    return [(int(t[i]), int(t[(i + 1) % 3])) for t in tri for i in range(3)]


def _loops(tri: np.ndarray) -> list[list[int]]:
    """Boundary loops (edges used by one triangle), each in the order of its edges."""
    uses = Counter(tuple(sorted(e)) for e in _edges(tri))
    nxt = {}
    for a, b in _edges(tri):
        if uses[tuple(sorted((a, b)))] == 1:
            assert a not in nxt, f"vertex {a} starts two boundary edges"
            nxt[a] = b
    loops, seen = [], set()
    for s in sorted(nxt):
        if s in seen:
            continue
        loop, v = [], s
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        assert v == s, "boundary is not a set of closed loops"
        loops.append(loop)
    return loops


def _same_cycle(a, b) -> bool:
    a, b = list(a), list(b)
    if len(a) != len(b) or set(a) != set(b):
        return False
    k = b.index(a[0])
    rot = b[k:] + b[:k]
    return rot == a or [rot[0]] + rot[1:][::-1] == a


def test_json_metadata_and_count(tri):
    doc = json.loads(resources.files("motionmask").joinpath("data/face_triangles.json").read_text())
    assert doc["count"] == len(tri) == 852
    assert doc["source"]["member"] == "mediapipe/python/solutions/face_mesh_connections.py"
    assert len(doc["source"]["wheel_sha256"]) == 64


def test_indices_and_no_duplicates(tri):
    assert tri.shape == (852, 3) and tri.dtype == np.int32
    assert tri.min() == 0 and tri.max() == NUM_MESH - 1
    assert len(np.unique(tri)) == NUM_MESH  # every surface point is used
    s = np.sort(tri, axis=1)
    assert (s[:, 0] < s[:, 1]).all() and (s[:, 1] < s[:, 2]).all()  # no repeated vertex
    assert len({tuple(t) for t in s.tolist()}) == len(tri)


def test_manifold_with_four_holes(tri):
    uses = Counter(tuple(sorted(e)) for e in _edges(tri))
    assert max(uses.values()) <= 2
    chi = NUM_MESH - len(uses) + len(tri)
    assert chi == -2  # a disc with 3 holes
    loops = _loops(tri)
    assert sorted(len(lp) for lp in loops) == [16, 16, 20, 36]
    for expected in (FACE_OVAL, LEFT_EYE, RIGHT_EYE, INNER_LIPS):
        assert sum(_same_cycle(lp, expected) for lp in loops) == 1, expected


def test_no_triangle_over_eyes_or_mouth(tri):
    for hole in (LEFT_EYE, RIGHT_EYE, INNER_LIPS):
        assert not any(set(t) <= set(hole) for t in tri.tolist())


def test_consistent_winding_ccw_on_screen(tri):
    directed = Counter(_edges(tri))
    assert max(directed.values()) == 1  # each interior edge once each way
    undirected = defaultdict(int)
    for (a, b), n in directed.items():
        undirected[(min(a, b), max(a, b))] += n
    interior = [e for e, n in undirected.items() if n == 2]
    assert all((b, a) in directed and (a, b) in directed for a, b in interior)
    # seen from the front in image coordinates (x right, y down): counter-clockwise on screen = negative shoelace
    pts = np.asarray(json.loads(resources.files("motionmask").joinpath("data/template_face.json").read_text())
                     ["points"], np.float64)[:NUM_MESH]
    p = pts[tri]
    cz = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0])
    assert (cz < 0).mean() > 0.95  # the rest are folds of the frontal projection (lip corners, cheek silhouette)
    assert cz.sum() < 0
