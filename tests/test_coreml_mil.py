"""coreml-mil reference executor: saved .mlpackage files run on Linux with numpy and match PyTorch.

Run: ``.venv/bin/python -m pytest tests/test_coreml_mil.py -q`` from the repository root.
The helpers (``mediapipe_like``, ``adain_generator``, ``to_mlpackage``, ``run_mil``, ``rel_err``) are reusable.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ct = pytest.importorskip("coremltools")
nn = torch.nn
F = torch.nn.functional

from motionmask.backends import backend_for_format, get_backend  # noqa: E402


# ---------------------------------------------------------------- reusable helpers
class BlazeLike(nn.Module):
    """MediaPipe face-detector shaped net: TF-'same' asymmetric pads, depthwise + 1x1 convs, PReLU, max-pool
    residual with channel padding, reshape + concat heads."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 16, 5, stride=2)
        self.prelu0 = nn.PReLU(16)
        self.dw1, self.pw1 = nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.Conv2d(16, 16, 1)
        self.dw2, self.pw2 = nn.Conv2d(16, 16, 3, stride=2, groups=16), nn.Conv2d(16, 24, 1)
        self.prelu2 = nn.PReLU(24)
        self.cls, self.reg = nn.Conv2d(24, 2, 1), nn.Conv2d(24, 8, 1)
        with torch.no_grad():  # per-channel slopes (equal slopes would be folded into leaky_relu)
            self.prelu0.weight.uniform_(0.05, 0.5)
            self.prelu2.weight.uniform_(0.05, 0.5)

    def forward(self, x):
        h = self.prelu0(self.conv0(F.pad(x, (1, 2, 1, 2))))
        h = F.relu(self.pw1(self.dw1(h)) + h)
        skip = F.pad(F.max_pool2d(h, 2), (0, 0, 0, 0, 0, 8))
        h = self.prelu2(self.pw2(self.dw2(F.pad(h, (0, 2, 0, 2)))) + skip)
        cls = torch.sigmoid(self.cls(h)).permute(0, 2, 3, 1).reshape(1, -1, 1)
        reg = self.reg(h).permute(0, 2, 3, 1).reshape(1, -1, 4)
        return torch.cat([reg, cls], dim=2)


class AdaInGenerator(nn.Module):
    """Generator-shaped net: reflect/replicate pads, AdaIN (reduce_mean/sub/pow/sqrt/div), linear, bilinear and
    nearest upsampling, instance norm, transposed conv, avg-pool, clip, tanh."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1, padding_mode="reflect")
        self.style = nn.Linear(16, 32)
        self.c2 = nn.Conv2d(16, 8, 3, padding=1, padding_mode="replicate")
        self.norm = nn.InstanceNorm2d(8, affine=True)
        self.up = nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1)
        self.out = nn.Conv2d(8, 3, 1)
        with torch.no_grad():
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        h = self.c1(x)
        gamma, beta = self.style(h.mean(dim=(2, 3))).chunk(2, dim=1)
        mu = h.mean(dim=(2, 3), keepdim=True)
        var = (h - mu).pow(2).mean(dim=(2, 3), keepdim=True)
        h = (h - mu) / torch.sqrt(var + 1e-5) * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        h = F.leaky_relu(h, 0.2)
        h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        h = F.relu(self.norm(self.c2(h)))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = F.hardtanh(h + self.up(F.avg_pool2d(h, 2)), -2.0, 2.0)
        return torch.tanh(self.out(h))


class OpZoo(nn.Module):
    """Coverage net for the less common ops: conv padding='same' (even kernel), dilated grouped conv, batch_norm,
    ceil-mode max-pool, avg-pool with/without padding in the divisor, align_corners bilinear to a size, strided
    slices, layer_norm, gelu/softmax/silu/elu/hardsigmoid/relu6, grouped conv_transpose + crop, matmul, exp, rsqrt,
    split, tile, reverse."""

    def __init__(self):
        super().__init__()
        self.c_same = nn.Conv2d(4, 8, 4, padding="same")
        self.c_dil = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.bn = nn.BatchNorm2d(8)
        self.ln = nn.LayerNorm(12)
        self.ct = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-1, 1)
            self.bn.running_var.uniform_(0.5, 2)

    def forward(self, x):
        h = self.c_dil(self.bn(F.relu(self.c_same(x))))
        h = (F.max_pool2d(h, 3, 2, ceil_mode=True) + F.avg_pool2d(h, 3, 2, padding=1, count_include_pad=False)
             + F.avg_pool2d(h, 3, 2, padding=1, count_include_pad=True))
        h = F.interpolate(h, size=(12, 12), mode="bilinear", align_corners=True)
        h = h + F.interpolate(h[:, :, 1:-1:2, ::3], size=(12, 12), mode="bilinear", align_corners=False)
        h = self.ln(h)
        h = F.gelu(h) + torch.softmax(h, dim=1) + F.silu(h) + F.elu(h) + F.hardsigmoid(h) + F.relu6(h)
        q = self.ct(h).flatten(2)  # (1, 4, 576)
        h = torch.matmul(torch.softmax(torch.matmul(q, q.transpose(1, 2)) / 576.0, -1), q).transpose(1, 2)
        return torch.cat([h.exp().clamp(max=5), torch.rsqrt(h.abs() + 1), h.split(2, dim=2)[1].repeat(1, 1, 2),
                          h.flip(1)], dim=1)


def mediapipe_like(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    return BlazeLike().eval(), torch.randn(1, 3, 64, 64)


def adain_generator(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    return AdaInGenerator().eval(), torch.randn(1, 3, 16, 16)


def to_mlpackage(model, x, path, precision: str = "FLOAT32", target=None, compress=None) -> str:
    """jit.trace + ct.convert to an ML program with fp32 I/O named image/out, optionally compressed, saved at path."""
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
    ml = ct.convert(
        traced,
        convert_to="mlprogram",
        minimum_deployment_target=target or ct.target.iOS16,
        inputs=[ct.TensorType(name="image", shape=tuple(x.shape), dtype=np.float32)],
        outputs=[ct.TensorType(name="out", dtype=np.float32)],
        compute_precision=getattr(ct.precision, precision),
    )
    if compress is not None:
        ml = compress(ml)
    ml.save(str(path))
    return str(path)


def run_mil(path: str, x) -> np.ndarray:
    session = get_backend("coreml-mil").open(path)
    assert session.input_names == ("image",) and session.output_names == ("out",)
    out = session.run({"image": np.asarray(x, np.float32)})["out"]
    assert out.dtype == np.float32
    return out


def torch_ref(model, x) -> np.ndarray:
    with torch.no_grad():
        return model(x).numpy()


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    """max abs error relative to the output scale (max abs of the reference)."""
    assert got.shape == ref.shape, (got.shape, ref.shape)
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-12))


def program_op_types(path: str) -> set[str]:
    from motionmask.backends._coreml_mil import load_program

    return {op.op_type for op in load_program(path).functions["main"].operations}


def op_zoo(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    return OpZoo().eval(), torch.randn(1, 4, 20, 20)


NETS = {"mediapipe": mediapipe_like, "adain": adain_generator, "opzoo": op_zoo}


# ---------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def fp32_runs(tmp_path_factory):
    """net name -> (torch ref, FP32 program output, FP16 program output, FP32 path, FP16 path)."""
    runs = {}
    for name, make in NETS.items():
        m, x = make()
        d = tmp_path_factory.mktemp(name)
        p32 = to_mlpackage(m, x, d / "fp32.mlpackage", "FLOAT32")
        p16 = to_mlpackage(m, x, d / "fp16.mlpackage", "FLOAT16")
        runs[name] = (torch_ref(m, x), run_mil(p32, x), run_mil(p16, x), p32, p16)
    return runs


@pytest.mark.parametrize("name", list(NETS))
def test_fp32_program_matches_torch(fp32_runs, name):
    ref, out32, _, _, _ = fp32_runs[name]
    assert rel_err(out32, ref) < 1e-4


@pytest.mark.parametrize("name", list(NETS))
def test_fp16_program_emulates_fp16_rounding(fp32_runs, name):
    ref, out32, out16, _, p16 = fp32_runs[name]
    assert "cast" in program_op_types(p16)
    err = rel_err(out16, ref)
    assert 1e-6 < err < 1e-2, err
    assert not np.array_equal(out16, out32)  # every intermediate went through fp16


def test_programs_use_the_ops_we_claim(fp32_runs):
    ops = set().union(*(program_op_types(run[3]) for run in fp32_runs.values()))
    want = {"conv", "prelu", "max_pool", "pad", "add", "relu", "reshape", "concat", "transpose", "sigmoid",
            "reduce_mean", "sub", "pow", "sqrt", "real_div", "linear", "upsample_bilinear",
            "upsample_nearest_neighbor", "instance_norm", "conv_transpose", "avg_pool", "clip", "tanh",
            "batch_norm", "layer_norm", "gelu", "softmax", "slice_by_index", "matmul", "crop", "split", "tile"}
    assert want <= ops, want - ops


def _lq_int8(ml):
    from coremltools.optimize import coreml as cto

    cfg = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric", weight_threshold=0))
    return cto.linear_quantize_weights(ml, cfg)


def _palettize_6bit(ml):
    from coremltools.optimize import coreml as cto

    cfg = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(mode="uniform", nbits=6, weight_threshold=0))
    return cto.palettize_weights(ml, cfg)


def _lq_int4_block(ml):
    from coremltools.optimize import coreml as cto

    op_cfg = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int4", granularity="per_block", block_size=8,
                                         weight_threshold=0)
    return cto.linear_quantize_weights(ml, cto.OptimizationConfig(global_config=op_cfg))


@pytest.mark.parametrize(
    "compress, target, constexpr, tol",
    [
        (_lq_int8, "iOS16", "constexpr_affine_dequantize", 2e-2),
        (_palettize_6bit, "iOS16", "constexpr_lut_to_dense", 5e-2),
        (_lq_int4_block, "iOS18", "constexpr_blockwise_shift_scale", 2e-1),
    ],
    ids=["int8-affine", "lut6", "int4-block"],
)
def test_weight_compressed_fp16_program_runs(tmp_path, compress, target, constexpr, tol):
    m, x = mediapipe_like()
    path = to_mlpackage(m, x, tmp_path / "q.mlpackage", "FLOAT16", getattr(ct.target, target), compress)
    assert constexpr in program_op_types(path)
    err = rel_err(run_mil(path, x), torch_ref(m, x))
    assert err < tol, err


def _save_mil(prog, path, target) -> str:
    ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=target,
               compute_precision=ct.precision.FLOAT32).save(str(path))
    return str(path)


def test_mil_builder_quantize_and_same_padding(tmp_path):
    """iOS17 quantize/dequantize (per-channel int8) and conv/max_pool pad_type='same' with stride 2: the odd pad
    pixel goes after (TF SAME; coremltools' aggregated_pad), so it equals custom pad [0, 1, 0, 1]."""
    from coremltools.converters.mil import Builder as mb

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    scale = np.array([0.02, 0.03, 0.05], np.float32)

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, 8, 8))], opset_version=ct.target.iOS17)
    def prog(image):
        q = mb.quantize(input=image, scale=scale, zero_point=np.array([0, 3, -2], np.int8), axis=1,
                        output_dtype="int8")
        d = mb.dequantize(input=q, scale=scale, zero_point=np.array([0, 3, -2], np.int8), axis=1)
        same = mb.conv(x=d, weight=w, strides=[2, 2], pad_type="same")
        custom = mb.conv(x=d, weight=w, strides=[2, 2], pad_type="custom", pad=[0, 1, 0, 1])
        pool_same = mb.max_pool(x=d, kernel_sizes=[3, 3], strides=[2, 2], pad_type="same")
        pool_custom = mb.max_pool(x=mb.pad(x=d, pad=[0, 1, 0, 1], constant_val=-1e4), kernel_sizes=[3, 3],
                                  strides=[2, 2], pad_type="valid")
        return d, mb.sub(x=same, y=custom), mb.sub(x=pool_same, y=pool_custom)

    session = get_backend("coreml-mil").open(_save_mil(prog, tmp_path / "q.mlpackage", ct.target.iOS17))
    x = rng.uniform(-3, 3, (1, 3, 8, 8)).astype(np.float32)
    d, conv_diff, pool_diff = session.run({"image": x}).values()
    zp = np.array([0, 3, -2], np.float32)[None, :, None, None]
    expect = (np.clip(np.round(x / scale[None, :, None, None]) + zp, -128, 127) - zp) * scale[None, :, None, None]
    np.testing.assert_allclose(d, expect, atol=1e-6)
    assert np.abs(conv_diff).max() == 0 and np.abs(pool_diff).max() == 0


def test_unknown_op_raises_not_implemented(tmp_path):
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4, 4))], opset_version=ct.target.iOS16)
    def prog(image):
        return mb.band_part(x=image, lower=1, upper=1, name="out")

    ml = ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16)
    ml.save(str(tmp_path / "u.mlpackage"))
    with pytest.raises(NotImplementedError, match="band_part"):
        get_backend("coreml-mil").open(str(tmp_path / "u.mlpackage"))


def test_backend_selection_on_this_platform():
    import sys

    assert get_backend("coreml-mil").formats == ("coreml",)
    coreml = __import__("motionmask.backends._coreml", fromlist=["BACKEND"]).BACKEND
    assert coreml.is_available() == (sys.platform == "darwin")
    if sys.platform != "darwin":
        assert backend_for_format("coreml").name == "coreml-mil"
