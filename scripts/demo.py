"""`make demo`: track the face in a real test video (../shared/data) when present, else in skimage's astronaut.

Writes the tracks and an overlay under out/demo/ and prints where they are.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEO = REPO.parent / "shared" / "data" / "videos" / "liveportrait" / "d0.mp4"


def main() -> int:
    from motionmask.defaults import default_bundle_path
    from motionmask.track_video import track_video

    out = REPO / "out" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    video = Path(os.environ.get("MOTIONMASK_DEMO_VIDEO", SHARED_VIDEO))
    if not video.is_file():
        video = _astronaut_video(out / "astronaut.mp4")
        print(f"(the team's test videos are absent; using a clip made from skimage.data.astronaut(): {video})")
    bundle = default_bundle_path()
    from tqdm import tqdm

    track = track_video(video, out / "track.npz", bundle_path=bundle, overlay_path=out / "overlay.mp4",
                        progress_factory=lambda total: tqdm(total=total or None, desc="tracking", unit="frame"))
    present = track.face_present.any(axis=1).mean()
    print(f"input:   {video}")
    print(f"bundle:  {bundle}")
    print(f"tracks:  {out / 'track.npz'}  ({len(track.landmarks)} frames, face in {present:.1%})")
    print(f"overlay: {out / 'overlay.mp4'}")
    return 0


def _astronaut_video(path: Path, frames: int = 30) -> Path:
    """A short clip of the public-domain astronaut image, slowly panned (so tracking has motion to follow)."""
    import cv2
    import numpy as np
    from skimage import data

    from motionmask.video import VideoWriter

    img = data.astronaut()
    with VideoWriter(path, 15.0, (384, 384)) as w:
        for i in range(frames):
            m = np.float32([[0.75, 0, -10 - i], [0, 0.75, -5 - i / 2]])
            w.write(cv2.warpAffine(img, m, (384, 384), borderMode=cv2.BORDER_REPLICATE))
    return path


if __name__ == "__main__":
    sys.exit(main())
