"""Identity judge: is the original person recognisable in the processed video? (FMP + DM)

The judge is dlib's ResNet face recogniser (128-d embeddings, Euclidean distance; ``face-recognition-models``,
CC0, run by ``dlib-bin``) with dlib's HOG face detector and 5-point aligner. It is deliberately independent of
the de-identification pipeline (different detector, different network), so the pipeline cannot be tuned to fool
its own judge.

FMP ("Identity preservation/removal", Methods): identity similarity between original and processed frames.
DM ("Re-identification test", Methods): the processed face is matched against a gallery of identities that
includes the patient; Rank-1, AUC and TAR at fixed FAR summarise how often the patient is found.

Thresholds: ``LEAK_DISTANCE`` 0.45 — the original face showing through (an untouched or blurred face scores
0.0-0.4 against itself, different people score >= 0.46 on the team's clips); ``SAME_PERSON_DISTANCE`` 0.6 —
dlib's verification threshold (a generic face can fall under it by chance, which is why re-identification is
judged in a lineup).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionmask.errors import BackendUnavailableError

LEAK_DISTANCE = 0.45
SAME_PERSON_DISTANCE = 0.6
_MODELS = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")


def _models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError("the identity judge needs `pip install face-recognition-models dlib-bin`")
    # Located without importing the package: its __init__ needs pkg_resources, gone from recent setuptools.
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels
    embedding: np.ndarray  # (128,) float64


class IdentityJudge:
    """dlib face detector + 5-point alignment + ResNet embedding.

    Args:
        upsample: times the HOG detector upsamples the image (1 finds faces down to ~40 px).
    """

    def __init__(self, upsample: int = 1):
        try:
            import dlib
        except ImportError as exc:
            raise BackendUnavailableError("the identity judge needs `pip install dlib-bin`") from exc
        models = _models_dir()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(models / _MODELS[0]))
        self._net = dlib.face_recognition_model_v1(str(models / _MODELS[1]))
        self.upsample = upsample

    def faces(self, image_rgb: np.ndarray) -> list[Face]:
        """Every face dlib finds in an RGB uint8 image, with its embedding."""
        image = np.ascontiguousarray(image_rgb)
        out = []
        for rect in self._detector(image, self.upsample):
            emb = np.asarray(self._net.compute_face_descriptor(image, self._shape(image, rect)), dtype=np.float64)
            out.append(Face((rect.left(), rect.top(), rect.right(), rect.bottom()), emb))
        return out

    def embed_largest(self, image_rgb: np.ndarray) -> np.ndarray | None:
        """Embedding of the largest face, or None when there is none."""
        faces = self.faces(image_rgb)
        if not faces:
            return None
        return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).embedding


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances between two sets of embeddings (N, 128) x (M, 128) -> (N, M)."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """AUC of telling genuine from impostor pairs by distance (smaller = same person); ties count half."""
    genuine, impostor = np.asarray(genuine, float), np.asarray(impostor, float)
    if not len(genuine) or not len(impostor):
        return float("nan")
    less = (genuine[:, None] < impostor[None, :]).mean()
    ties = (genuine[:, None] == impostor[None, :]).mean()
    return float(less + 0.5 * ties)


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> float:
    """True-accept rate at the distance threshold that accepts a fraction ``far`` of impostor pairs."""
    genuine, impostor = np.asarray(genuine, float), np.asarray(impostor, float)
    if not len(genuine) or not len(impostor):
        return float("nan")
    threshold = np.quantile(impostor, far)
    return float((genuine < threshold).mean()) if far > 0 else float((genuine < impostor.min()).mean())


def frame_identity(judge: IdentityJudge, original: np.ndarray, processed: np.ndarray) -> dict:
    """Distances of every face in the processed frame to the original frame's faces (any face counts).

    Returns:
        {"original_faces": n, "processed_faces": m, "min_distance": float (inf when either side has no face)}
    """
    orig, proc = judge.faces(original), judge.faces(processed)
    if not orig or not proc:
        return {"original_faces": len(orig), "processed_faces": len(proc), "min_distance": float("inf")}
    d = distances(np.stack([f.embedding for f in proc]), np.stack([f.embedding for f in orig]))
    return {"original_faces": len(orig), "processed_faces": len(proc), "min_distance": float(d.min())}


def lineup(processed_embeddings: np.ndarray, gallery: dict[str, np.ndarray], patient: str) -> dict:
    """DM's re-identification protocol: rank gallery identities for each processed face.

    Args:
        processed_embeddings: (N, 128) one embedding per processed frame.
        gallery: identity -> (K, 128) embeddings of that identity (the patient from another clip included).
        patient: the gallery identity that is the patient.

    Returns:
        rank1 (fraction of frames whose nearest identity is the patient), auc, tar_at_far_0.1, tar_at_far_0.01,
        and ``nearest``: the (at most 5) identities the frames are most often nearest to, with their frame counts
        (who the output is taken for).
    """
    if patient not in gallery:
        raise KeyError(f"patient {patient!r} is not in the gallery ({sorted(gallery)})")
    names = sorted(gallery)
    # distance of each frame to each identity = distance to that identity's nearest gallery image
    per_id = np.stack([distances(processed_embeddings, gallery[n]).min(axis=1) for n in names], axis=1)
    nearest = np.asarray(names)[per_id.argmin(axis=1)]
    p = names.index(patient)
    genuine = per_id[:, p]
    impostor = np.delete(per_id, p, axis=1).ravel()
    who, count = np.unique(nearest, return_counts=True)
    top = np.argsort(-count, kind="stable")[:5]
    return {
        "identities": len(names),
        "frames": int(len(processed_embeddings)),
        "rank1": float((nearest == patient).mean()) if len(nearest) else float("nan"),
        "auc": roc_auc(genuine, impostor),
        "tar_at_far_0.1": tar_at_far(genuine, impostor, 0.1),
        "tar_at_far_0.01": tar_at_far(genuine, impostor, 0.01),
        "nearest": {str(who[i]): int(count[i]) for i in top},
    }
