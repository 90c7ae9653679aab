"""`make demo`: de-identify a real test video (../shared/data) when present, else a clip of skimage's astronaut.

Runs the main job (`motionmask deidentify`, mask mode: every face replaced by a template face carrying the motion,
audio kept), then evaluates the output against the input (`motionmask evaluate`: motion correlations, blinks, tremor,
identity judge), and writes under out/demo/: mask.mp4, signals.npz, report/report.html + report.json.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEO = REPO.parent / "shared" / "data" / "videos" / "liveportrait" / "d0.mp4"


def main() -> int:
    from motionmask.defaults import default_bundle_path
    out = REPO / "out" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    video = Path(os.environ.get("MOTIONMASK_DEMO_VIDEO", SHARED_VIDEO))
    if not video.is_file():
        video = _astronaut_video(out / "astronaut.mp4")
        print(f"(the team's test videos are absent; using a clip made from skimage.data.astronaut(): {video})")
    bundle = default_bundle_path()
    from tqdm import tqdm

    from motionmask.deidentify_video import deidentify_video
    from motionmask.evaluation.run import evaluate

    def bar(total, desc="de-identifying"):
        return tqdm(total=total or None, desc=desc, unit="frame")

    summary = deidentify_video(video, out / "mask.mp4", bundle_path=bundle, signals_path=out / "signals.npz",
                               progress_factory=bar)
    report = evaluate(video, out / "mask.mp4", out / "report", bundle=bundle, progress_factory=bar)
    m, b, ident = report["motion"], report["blinks"], report["identity"]
    print(f"input:    {video}")
    print(f"bundle:   {bundle}")
    print(f"output:   {out / 'mask.mp4'}  ({summary['frames']} frames, {summary['faces_replaced']} faces replaced, "
          f"{summary['regions_covered']} extra regions covered, {summary['frames_covered']} frames covered whole, "
          f"audio {'kept' if summary['audio'] else 'none'})")
    print(f"signals:  {out / 'signals.npz'}")
    print(f"report:   {out / 'report' / 'report.html'}")
    print(f"motion r_x {m.get('pearson_x', float('nan')):.3f}  r_y {m.get('pearson_y', float('nan')):.3f}  "
          f"CCA {m.get('pearson_cca', float('nan')):.3f}; blinks P {b.get('precision', float('nan')):.2f} "
          f"R {b.get('recall', float('nan')):.2f}; identity leak fraction {ident.get('leak_fraction', 'n/a')}")
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
