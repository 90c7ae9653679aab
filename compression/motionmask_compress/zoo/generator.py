"""The swap-mode generator ("refiner"): a U-Net that paints the final face crop.

Input: the 7-channel map of :func:`motionmask.swap.warp.generator_input` (warped source, its coverage, the mask
rendering of the target geometry). The network starts from a *base* image (the warped source where it is defined,
the rendering elsewhere: eyes, mouth) and predicts a correction, so an untrained net already outputs the plain warp
and training only has to learn what the warp cannot do (eyes, teeth, mouth interior, shading, seams).

Plain conv/ReLU/nearest-upsample/concat/add: nothing that a TFLite, Core ML or ONNX exporter lowers differently,
no normalisation layers (they would have to stay float when quantized). Width and depth are arguments, so the
teacher and its narrow student (compression issue) are the same class.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from motionmask_compress.zoo import register_model

INPUT_CHANNELS = 7
WEIGHTS_DIR = Path(__file__).with_name("generators")


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU(inplace=True))


class _Res(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, 1, 1)
        self.b = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return torch.relu(x + self.b(torch.relu(self.a(x))))


def plain_warp(x: torch.Tensor) -> torch.Tensor:
    """The base image of a (N, 7, S, S) generator input: the warped source where defined, the rendering elsewhere."""
    return x[:, 0:3] + (1.0 - x[:, 3:4]) * x[:, 4:7]


class Refiner(nn.Module):
    """U-Net with 3 stride-2 stages, ``blocks`` residual blocks at 1/8 resolution and skip concatenations.

    Args:
        width: channels at full resolution (x2 per stage).
        blocks: residual blocks at the bottleneck.
    """

    role = "swap_generator"
    output_names = ("face",)

    def __init__(self, width: int = 16, blocks: int = 2):
        super().__init__()
        c = [width, width * 2, width * 4, width * 8]
        self.config = {"width": width, "blocks": blocks}
        self.inc = nn.Sequential(_conv(INPUT_CHANNELS, c[0]), _conv(c[0], c[0]))
        self.down = nn.ModuleList([nn.Sequential(_conv(c[i], c[i + 1], 2), _conv(c[i + 1], c[i + 1]))
                                   for i in range(3)])
        self.mid = nn.Sequential(*[_Res(c[3]) for _ in range(blocks)])
        self.up = nn.ModuleList([_conv(c[i + 1], c[i]) for i in reversed(range(3))])
        self.fuse = nn.ModuleList([_conv(2 * c[i], c[i]) for i in reversed(range(3))])
        self.head = nn.Conv2d(c[0], 3, 3, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = plain_warp(x)
        skips = [self.inc(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        h = self.mid(skips.pop())
        for up, fuse in zip(self.up, self.fuse):
            h = up(nn.functional.interpolate(h, scale_factor=2.0, mode="nearest"))
            h = fuse(torch.cat([h, skips.pop()], dim=1))
        return torch.clamp(base + self.head(h), 0.0, 1.0)


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.pt"


def save_generator(model: Refiner, name: str, provenance: dict, directory: Path | None = None) -> Path:
    """Weights as fp16 (.pt) + provenance/model card data (.json) next to them."""
    directory = Path(directory or WEIGHTS_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pt"
    state = {k: v.half() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    torch.save({"config": model.config, "state_dict": state}, tmp)
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    return path


def load_generator(path: str | Path) -> Refiner:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"generator weights {path} not found (train them: motionmask-build train-generator)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = Refiner(**ckpt["config"])
    model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
    return model.eval()


@register_model("swap_generator_teacher")
def swap_generator_teacher(path: str | Path | None = None, untrained: bool = False, **config) -> Refiner:
    """The full-width refiner; the committed weights unless ``untrained`` (then ``config`` sets its size)."""
    if untrained:
        return Refiner(**config)
    return load_generator(path or weights_path("swap_generator"))


@register_model("swap_generator_student")
def swap_generator_student(path: str | Path | None = None, untrained: bool = False, **config) -> Refiner:
    """The narrow refiner distilled from the teacher (recipe ``swap_generator_student``): width 8, 1.7 GFLOPs."""
    if untrained:
        return Refiner(**({"width": 8, "blocks": 2} | config))
    return load_generator(path or weights_path("swap_generator_student"))
