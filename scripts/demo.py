"""`make demo`: de-identify a real test video (../shared/data) when present, else a clip of skimage's astronaut.

Runs the main job (`motionmask deidentify`, audio kept) in swap mode (every face replaced by the synthetic source
face carrying the motion, painted by the generator) when a source face is available (`make setup` builds one from
the team's videos), else in mask mode (a shaded template face; no source needed), then evaluates the output against
the input (`motionmask evaluate`: motion correlations, blinks, tremor, identity judge), and writes under out/demo/:
<mode>.mp4, signals.npz, report/report.html + report.json. ``MOTIONMASK_DEMO_MODE=mask|swap`` chooses the mode.
The default video is liveportrait/d12.mp4: one of the generator's held-out videos, and none of the source's people.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEO = Path(os.environ.get("MOTIONMASK_SHARED", REPO.parent / "shared")) / "data" / "videos" / "liveportrait" \
    / "d12.mp4"


def _mode() -> tuple[str, str]:
    """(mode, why): swap when a source face is available, else mask."""
    from motionmask.defaults import default_source_path
    from motionmask.errors import InvalidInputError

    asked = os.environ.get("MOTIONMASK_DEMO_MODE")
    if asked:
        if asked not in ("mask", "swap"):
            raise SystemExit(f"MOTIONMASK_DEMO_MODE must be mask or swap, got {asked!r}")
        return asked, "MOTIONMASK_DEMO_MODE"
    try:
        return "swap", f"source face {default_source_path()}"
    except InvalidInputError as e:
        return "mask", f"no source face for the swap mode ({e})"


def main() -> int:
    from motionmask.defaults import default_bundle_path
    out = REPO / "out" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    video = Path(os.environ.get("MOTIONMASK_DEMO_VIDEO", SHARED_VIDEO))
    if not video.is_file():
        video = _astronaut_video(out / "astronaut.mp4")
        print(f"(the team's test videos are absent; using a clip made from skimage.data.astronaut(): {video})")
    bundle = default_bundle_path()
    mode, why = _mode()
    print(f"mode:     {mode} ({why})")
    from tqdm import tqdm

    from motionmask.deidentify_video import deidentify_video
    from motionmask.evaluation.run import evaluate

    def bar(total, desc="de-identifying"):
        return tqdm(total=total or None, desc=desc, unit="frame")

    output = out / f"{mode}.mp4"
    summary = deidentify_video(video, output, mode=mode, bundle_path=bundle, signals_path=out / "signals.npz",
                               progress_factory=bar)
    report = evaluate(video, output, out / "report", bundle=bundle, progress_factory=bar)
    m, b, ident = report["motion"], report["blinks"], report["identity"]
    print(f"input:    {video}")
    print(f"bundle:   {bundle}")
    print(f"output:   {output}  ({summary['frames']} frames, {summary['faces_replaced']} faces replaced, "
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
