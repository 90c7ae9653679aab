"""Face geometry (Digital Mask reconstruction): head pose, identity/motion split, eyelids, SGAEM eyeballs, retargeting.

Plain array math (numpy) with its constants in ``data/face_geometry.json`` and ``data/template_face.json``, so it
ports line by line to Kotlin/Swift.
"""

from motionmask.geometry.face import FaceGeometry, FaceParams, reconstruction_error
from motionmask.geometry.pose import Pose, estimate_pose, weighted_procrustes
from motionmask.geometry.retarget import TargetShape, retarget, template_face

__all__ = ["FaceGeometry", "FaceParams", "Pose", "TargetShape", "estimate_pose", "reconstruction_error", "retarget",
           "template_face", "weighted_procrustes"]
