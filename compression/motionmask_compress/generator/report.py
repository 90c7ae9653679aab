"""What a person looks at after a generator run: the loss curves and a contact sheet of held-out pairs.

Contact sheet rows: target (the held-out driving frame) | the generator input's base (source warped onto the
target mesh, the mask rendering where the warp is undefined: eyes, mouth) | the refined output. PNG files, written
next to the run's ``report.json``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from motionmask_compress.generator.data import PairSampler


def _rgb(t: torch.Tensor) -> np.ndarray:
    return (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@torch.no_grad()
def contact_sheet(model, sampler: PairSampler, path: Path, rows: int = 6) -> Path:
    model.eval()
    b = sampler.batch(rows)
    x, y = torch.from_numpy(b["input"]), torch.from_numpy(b["target"])
    base = x[:, 0:3] + (1.0 - x[:, 3:4]) * x[:, 4:7]
    out = model(x)
    lines = [np.concatenate([_rgb(y[i]), _rgb(base[i]), _rgb(out[i])], axis=1) for i in range(rows)]
    sheet = np.concatenate(lines, axis=0)
    for j, label in enumerate(("target (held out)", "warp + rendering", "generator")):
        cv2.putText(sheet, label, (8 + j * y.shape[-1], 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1,
                    cv2.LINE_AA)
    path = Path(path)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path


def loss_plot(history: list[dict], path: Path, window: int = 50) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in history[0] if k != "step"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8))
    steps = np.array([h["step"] for h in history])
    for ax, k in zip(np.atleast_1d(axes), keys):
        v = np.array([h[k] for h in history])
        ax.plot(steps, v, lw=0.4, alpha=0.4)
        if len(v) >= window:
            ax.plot(steps[window - 1:], np.convolve(v, np.ones(window) / window, "valid"), lw=1.5)
        ax.set_title(k)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
