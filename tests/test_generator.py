"""Swap generator: architecture invariants, conversion to all three targets, and the training loop (seeded,
resumable, losses on real face crops, blink-balanced pairs). Frames come from a panned astronaut video made here,
so the tests need no team data."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from motionmask.bundle import Preprocessing
from motionmask.runner import ModelRunner
from motionmask.video import VideoWriter
from motionmask_compress.generator.data import PairSampler, VideoFrames, track_video_frames
from motionmask_compress.generator.train import train_generator
from motionmask_compress.recipes import GeneratorConfig, RecipeError, shipped_recipe
from motionmask_compress.zoo.generator import Refiner


@pytest.fixture(scope="module")
def frames(astronaut, tmp_path_factory) -> VideoFrames:
    from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode

    path = tmp_path_factory.mktemp("gen") / "pan.mp4"
    img = cv2.resize(astronaut, (384, 384))
    with VideoWriter(path, 25.0, (384, 384)) as w:
        for i in range(12):
            m = cv2.getRotationMatrix2D((192, 150), 3.0 * np.sin(i / 2), 1.0 + 0.02 * i)
            w.write(cv2.warpAffine(img, m, (384, 384), borderMode=cv2.BORDER_REPLICATE))
    return track_video_frames(path, 12, lambda: FaceTracker.create_from_options(
        FaceTrackerOptions(running_mode=RunningMode.VIDEO)))


def test_an_untrained_refiner_outputs_the_plain_warp():
    x = torch.rand(2, 7, 64, 64)
    x[:, 3] = (x[:, 3] > 0.5).float()
    base = x[:, 0:3] + (1 - x[:, 3:4]) * x[:, 4:7]
    assert torch.equal(Refiner(width=4, blocks=1)(x), base.clamp(0, 1))


@pytest.mark.parametrize("target,suffix,backend", [("onnx", ".onnx", None), ("tflite", ".tflite", None),
                                                   ("coreml", ".mlpackage", "coreml-mil")])
def test_the_generator_converts_to_every_target(tmp_path, target, suffix, backend):
    from motionmask_export.exporters import get_exporter

    torch.manual_seed(0)
    model = Refiner(width=4, blocks=1).eval()
    for p in model.head.parameters():  # a non-trivial head, so the conversion of the whole net is checked
        torch.nn.init.normal_(p, std=0.05)
    x = torch.rand(1, 7, 64, 64)
    art = get_exporter(target)(model, x, tmp_path / f"g{suffix}", "fp32", Preprocessing((64, 64), (0.0, 1.0)))
    got = ModelRunner(art.spec, art.path, backend)(x.numpy())["face"]
    with torch.no_grad():
        ref = model(x).numpy()
    assert np.abs(got - ref).max() < 1e-4


def test_pairs_are_real_crops_with_a_face_mask(frames):
    assert len(frames.crops) >= 10 and frames.crops.shape[1:] == (256, 256, 3)
    sampler = PairSampler([frames], blink_fraction=0.5, seed=0)
    b = sampler.batch(3)
    assert b["input"].shape == (3, 7, 256, 256) and b["target"].shape == (3, 3, 256, 256)
    assert b["mask"].shape == (3, 1, 256, 256) and 0.2 < b["mask"].mean() < 0.8
    assert sampler.closed == [] and frames.ear.min() > 0.2  # the astronaut's eyes are open


def _closed_share(frames: VideoFrames, blink_fraction: float, draws: int = 800) -> float:
    sampler = PairSampler([frames], blink_fraction=blink_fraction, seed=1)
    closed = {i for _, i in sampler.closed}
    return sum(sampler.pair()[3] in closed for _ in range(draws)) / draws


def test_closed_eye_driving_frames_get_the_asked_share(frames):
    ear = frames.ear.copy()
    ear[:3] = 0.05  # 3 of the frames marked closed-eyed: a quarter or so, drawn uniformly
    marked = dataclasses.replace(frames, ear=ear)
    uniform = 3 / len(ear)
    assert _closed_share(marked, 0.0) == pytest.approx(uniform, abs=0.05)
    # blink_fraction of draws come from closed frames, the rest uniformly (which hits them too)
    assert _closed_share(marked, 0.5) == pytest.approx(0.5 + 0.5 * uniform, abs=0.05)


def test_training_is_seeded_and_resumes_where_it_stopped(frames, tmp_path):
    cfg = GeneratorConfig(width=4, blocks=1, steps=4, batch_size=2, checkpoint_every=2,
                          loss_weights={"l1": 1.0, "ssim": 0.5, "landmarks": 1.0})
    torch.set_num_threads(2)
    full = train_generator(cfg, PairSampler([frames], seed=0), tmp_path / "a", progress=False)
    assert full["finished"] and full["step"] == 4
    assert all(np.isfinite(h["total"]) and h["landmarks"] >= 0 for h in full["history"])
    half = train_generator(dataclasses.replace(cfg, steps=2), PairSampler([frames], seed=0), tmp_path / "b",
                           progress=False)
    assert half["step"] == 2
    resumed = train_generator(cfg, PairSampler([frames], seed=0), tmp_path / "b", progress=False)
    assert resumed["step"] == 4 and (tmp_path / "b" / "checkpoint.pt").is_file()
    for a, b in zip(full["history"], resumed["history"]):
        assert a["total"] == pytest.approx(b["total"], rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("name", ["swap_generator_stage1", "swap_generator", "swap_generator_student"])
def test_the_shipped_generator_recipes_hold_out_videos_and_reject_unknown_losses(name):
    from motionmask_compress.recipes import PtqConfig

    r = shipped_recipe(name)
    step = r.steps[0]
    assert isinstance(step, GeneratorConfig) and r.held_out_videos
    assert not set(step.train_videos) & set(r.held_out_videos)
    for ptq in (s for s in r.steps if isinstance(s, PtqConfig)):  # calibration never sees the held-out videos
        assert not set(ptq.calibration_videos) & set(r.held_out_videos)
    with pytest.raises(RecipeError, match="unknown terms"):
        GeneratorConfig(loss_weights={"gan": 1.0})


def test_cross_identity_pairs_take_the_source_from_another_video_and_train(frames, tmp_path):
    other = dataclasses.replace(frames, name="mirrored", crops=frames.crops[:, :, ::-1].copy())
    sampler = PairSampler([frames, other], blink_fraction=0.0, seed=3, cross_identity=0.5)
    b = sampler.batch(8, cross=np.array([True, False] * 4))
    assert b["cross"].tolist() == [True, False] * 4 and b["source"].shape == (8, 3, 256, 256)
    for k in range(8):  # the other video is the mirror image: a cross sample's source looks mirrored to its target
        src, tgt = b["source"][k], b["target"][k]
        mirrored = np.abs(src[:, :, ::-1] - tgt).mean() < np.abs(src - tgt).mean()
        assert mirrored == b["cross"][k]
    with pytest.raises(ValueError, match="two or more videos"):
        PairSampler([frames], cross_identity=0.25)
    cfg = GeneratorConfig(width=4, blocks=1, steps=2, batch_size=2, checkpoint_every=2, cross_identity=0.5,
                          loss_weights={"l1": 1.0, "ssim": 0.5, "landmarks": 1.0})
    torch.set_num_threads(2)
    run = train_generator(cfg, PairSampler([frames, other], seed=0, cross_identity=0.5), tmp_path / "x",
                          progress=False)
    assert run["finished"] and all(np.isfinite(h["total"]) for h in run["history"])


def test_a_second_stage_starts_only_from_the_weights_its_recipe_names(frames, tmp_path):
    from motionmask_compress.provenance import file_sha256
    from motionmask_compress.zoo.generator import save_generator

    torch.manual_seed(1)
    first = Refiner(width=4, blocks=1)
    for p in first.head.parameters():
        torch.nn.init.normal_(p, std=0.05)
    path = save_generator(first, "stage1", {}, tmp_path)
    cfg = GeneratorConfig(width=4, blocks=1, steps=1, batch_size=1, loss_weights={"l1": 1.0},
                          init_sha256=file_sha256(path), learning_rate=0.0)
    run = train_generator(cfg, PairSampler([frames], seed=0), tmp_path / "b", progress=False, init=path)
    for k, v in first.state_dict().items():  # lr 0: the second stage still holds the first stage's weights
        assert torch.allclose(run["model"].state_dict()[k], v.half().float())
    with pytest.raises(ValueError, match="pass them with --init"):
        train_generator(cfg, PairSampler([frames], seed=0), tmp_path / "c", progress=False)
    with pytest.raises(ValueError, match="sha256"):
        train_generator(dataclasses.replace(cfg, init_sha256="0" * 64), PairSampler([frames], seed=0),
                        tmp_path / "d", progress=False, init=path)
    with pytest.raises(ValueError, match="from scratch"):
        train_generator(dataclasses.replace(cfg, init_sha256=""), PairSampler([frames], seed=0), tmp_path / "e",
                        progress=False, init=path)
    with pytest.raises(RecipeError, match="identity_target"):
        GeneratorConfig(identity_target="driver")
    with pytest.raises(RecipeError, match="cross-identity"):
        GeneratorConfig(identity_target="driving", cross_identity=0.2)
    stages = shipped_recipe("swap_generator_stage1").steps[0], shipped_recipe("swap_generator").steps[0]
    assert not stages[0].init_sha256 and stages[1].init_sha256 and stages[1].identity_target == "source"


def test_a_student_distils_from_the_committed_teacher(frames, tmp_path):
    from motionmask_compress.generator.train import evaluate_distillation
    from motionmask_compress.zoo import create_model

    cfg = GeneratorConfig(model="swap_generator_student", teacher="swap_generator_teacher", width=4, blocks=1,
                          steps=2, batch_size=2, loss_weights={"l1": 1.0, "ssim": 0.5})
    torch.set_num_threads(2)
    run = train_generator(cfg, PairSampler([frames], seed=0), tmp_path / "s", progress=False)
    assert run["finished"] and all(np.isfinite(h["l1"]) and h["l1"] > 0 for h in run["history"])
    teacher = create_model("swap_generator_teacher")
    same = evaluate_distillation(teacher, teacher, PairSampler([frames], seed=1), pairs=2, batch=2)
    plain = evaluate_distillation(Refiner(width=4, blocks=1), teacher, PairSampler([frames], seed=1), pairs=2,
                                  batch=2)
    assert same["psnr_vs_teacher"] >= 99.0 and 15.0 < plain["psnr_vs_teacher"] < 60.0
    with pytest.raises(RecipeError, match="exclude"):
        GeneratorConfig(teacher="swap_generator_teacher", init_sha256="0" * 64)
    assert create_model("swap_generator_student", untrained=True).config == {"width": 8, "blocks": 2}


def test_the_committed_student_was_distilled_from_the_committed_teacher_and_meets_its_gate(tmp_path):
    import json

    from motionmask_compress.provenance import file_sha256
    from motionmask_compress.zoo import create_model
    from motionmask_compress.zoo.generator import weights_path
    from motionmask_compress.zoo.prune import conv_macs
    from motionmask_export.build import _generator_artifact

    card = json.loads(weights_path("swap_generator_student").with_suffix(".json").read_text())
    assert card["teacher_sha256"] == file_sha256(weights_path("swap_generator"))
    assert card["held_out"]["distillation"]["psnr_vs_teacher"] >= 30.0
    student = create_model("swap_generator_student")
    assert 2 * conv_macs(student, torch.zeros(1, 7, 256, 256)) <= 2.5e9  # <= 2.5 GFLOPs per 256² crop
    with pytest.raises(ValueError, match="distilled generator student"):  # int8 bundles never ship the teacher
        _generator_artifact(weights_path("swap_generator"), "tflite", "int8", np.zeros((1, 7, 256, 256), np.float32),
                            tmp_path)
