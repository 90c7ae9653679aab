"""Students: channel-pruned copies of the real teachers' graphs, distilled here.

Pruning is checked against the teacher itself (keeping every channel must reproduce it exactly; the shortcut PADs
must stay consistent at any width), the distillation loop on real teacher labels of a real face, and the
committed students against the issue's budgets.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionmask_compress.recipes import DistillConfig, RecipeError
from motionmask_compress.zoo import create_model
from motionmask_compress.zoo.prune import channel_groups, choose_channels, conv_macs, pruned_copy
from motionmask_compress.zoo.students import STUDENT_ROLES, Student, checkpoint_path, init_student


@pytest.fixture(scope="module")
def crops():
    from motionmask_export.samples import model_inputs

    return model_inputs(3)


@pytest.mark.parametrize("role", ["face_mesh", "iris"])
def test_keeping_every_channel_reproduces_the_teacher(role, crops):
    teacher = create_model(f"{role}_teacher")
    x = torch.from_numpy(crops[role])
    full = pruned_copy(teacher.net, choose_channels(teacher.net, x, 1.0), x)
    with torch.no_grad():
        for a, b in zip(teacher.net(x), full(x)):
            assert torch.equal(a, b)


@pytest.mark.parametrize("role", ["face_mesh", "iris"])
def test_half_width_student_is_smaller_and_keeps_shortcuts_consistent(role, crops):
    teacher = create_model(f"{role}_teacher")
    x = torch.from_numpy(crops[role])
    keep = choose_channels(teacher.net, x, 0.5)
    info = channel_groups(teacher.net, x)
    for child, (parent, inherited) in info["inherits"].items():  # a widened stage starts with its parent's channels
        assert keep[child][: len(keep[parent])] == keep[parent]
        assert all(i >= inherited for i in keep[child][len(keep[parent]):])
    assert not set(keep) & info["fixed"]  # input, outputs and reshaped groups keep every channel
    student = pruned_copy(teacher.net, keep, x)
    with torch.no_grad():
        outs = student(x)
    assert [o.shape for o in outs] == [o.shape for o in teacher.net(x)]
    ratio = conv_macs(student, x) / conv_macs(teacher.net, x)
    assert 0.2 < ratio < 0.36, ratio
    assert sum(p.numel() for p in student.parameters()) < sum(p.numel() for p in teacher.parameters())


def test_per_stage_widths_and_config_validation(crops):
    teacher = create_model("face_mesh_teacher")
    x = torch.from_numpy(crops["face_mesh"])
    keep = choose_channels(teacher.net, x, {16: 0.375, 32: 0.5, 64: 0.625, 128: 0.75})
    info = channel_groups(teacher.net, x)
    sizes = sorted((info["channels"][g], len(k)) for g, k in keep.items())
    # a widened stage inherits its parent's kept channels; the fraction applies to its new ones:
    # 16: 6; 32: 6 + 8 of the new 16; 64: 14 + 20 of the new 32; 128: 34 + 48 of the new 64; two 32-wide heads: 16
    assert sizes == [(16, 6), (32, 14), (32, 16), (32, 16), (64, 34), (128, 82)]
    with pytest.raises(RecipeError, match="width"):
        DistillConfig(width=1.5)
    with pytest.raises(RecipeError, match="augment"):
        DistillConfig(augment=("mixup",))
    with pytest.raises(RecipeError, match="rounds"):
        DistillConfig(epochs=4, rounds=5)
    with pytest.raises(RecipeError, match="rounds"):
        DistillConfig(rounds=0)


def test_distillation_lowers_the_loss_on_real_teacher_labels(tmp_path, astronaut):
    """A few steps on jittered crops of a real face labelled by the real teacher: the loss must fall."""
    import cv2

    from motionmask_compress.distill.data import Augment, build_crops, teacher_labels
    from motionmask_compress.distill.train import distill_loss, nme, predict, train_student

    still = tmp_path / "astronaut.png"
    cv2.imwrite(str(still), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    crops = build_crops("face_mesh", [still], seed=0, aug=Augment(), copies=16, progress=False)
    assert crops.shape == (64, 192, 192, 3) and crops.dtype == np.uint8
    assert len({c.tobytes() for c in crops}) == len(crops)  # every copy is jittered differently
    data = {"crops": crops, **teacher_labels(crops, "face_mesh", progress=False)}
    assert (data["face_flag"] > 0).mean() > 0.7  # mostly faces, a few background crops
    student = init_student("face_mesh", 0.5, torch.from_numpy(crops[:16]).permute(0, 3, 1, 2).float() / 255)
    before = nme("face_mesh", predict(student, crops, "face_mesh"), data)["all"]
    probe = torch.from_numpy(crops[:16]).permute(0, 3, 1, 2).float() / 255
    config = DistillConfig(epochs=6, batch_size=16, learning_rate=2e-3)
    history = train_student(student, data, config, progress=False)
    after = nme("face_mesh", predict(student, crops, "face_mesh"), data)["all"]
    losses = [e["loss"] for e in history["epochs"]]
    assert losses[-1] < 0.7 * losses[0], losses
    assert after < before, (before, after)
    # seeded: the same recipe on the same data trains the same student
    again = init_student("face_mesh", 0.5, probe)
    assert [e["loss"] for e in train_student(again, data, config, progress=False)["epochs"]] == losses
    # the loss weights eyelids: an error on an eyelid point costs more than the same error elsewhere
    out = tuple(torch.from_numpy(data[n][:2]).clone() for n in ("landmarks", "face_flag"))
    tgt = tuple(torch.from_numpy(data[n][:2]) for n in ("landmarks", "face_flag"))
    lid, cheek = out[0].clone(), out[0].clone()
    lid[:, 159, 0] += 5
    cheek[:, 50, 0] += 5
    w = {"eyelids": 3.0}
    assert distill_loss("face_mesh", (lid, out[1]), tgt, w) > distill_loss("face_mesh", (cheek, out[1]), tgt, w)


def test_rounds_train_on_fresh_crops_of_the_same_faces(tmp_path, astronaut):
    """``rounds``: round r > 0 re-jitters the same faces (same count, new crops, cached apart); the training loop
    switches sets at the round boundaries and refuses a set of another size."""
    import cv2

    from motionmask_compress.distill.data import Augment, distill_set, teacher_inputs
    from motionmask_compress.distill.train import train_student

    still = tmp_path / "astronaut.png"
    cv2.imwrite(str(still), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    faces: dict = {}
    sets = [distill_set("iris", [still], 0, Augment(), 2, cache_dir=tmp_path / "c", progress=False, round_index=r,
                        faces=faces) for r in range(3)]
    assert len({len(s["crops"]) for s in sets}) == 1 and len(sets[0]["crops"]) == 16  # 2 eyes x 2 copies x 4
    assert not np.array_equal(sets[0]["crops"], sets[1]["crops"])
    assert not np.array_equal(sets[1]["crops"], sets[2]["crops"])
    assert len(list((tmp_path / "c").glob("iris-*.npz"))) == 3
    again = distill_set("iris", [still], 0, Augment(), 2, cache_dir=tmp_path / "c2", progress=False, round_index=1)
    assert np.array_equal(again["crops"], sets[1]["crops"])  # seeded per round, without the shared face cache too

    asked = []

    def round_data(r):
        asked.append(r)
        return sets[r]

    student = init_student("iris", 0.5, teacher_inputs(sets[0]["crops"][:8], "iris"))
    config = DistillConfig(epochs=6, rounds=3, batch_size=8)
    history = train_student(student, sets[0], config, progress=False, round_data=round_data)
    assert asked == [1, 2] and [e["round"] for e in history["epochs"]] == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="round_data"):
        train_student(student, sets[0], config, progress=False)
    with pytest.raises(ValueError, match="round 1 has"):
        train_student(student, sets[0], config, progress=False,
                      round_data=lambda r: {k: v[:8] for k, v in sets[r].items() if v.ndim})


def test_fast_motion_augmentations_leave_the_other_recipes_sets_alone(tmp_path, astronaut):
    """"lag" and "motion_blur" (off by default) change the crops; with them off the cache key is the one of the sets
    cached before they existed and no random draw is added, so the shipped recipes still find and reproduce their
    data."""
    import cv2

    from motionmask_compress.distill import augment_of
    from motionmask_compress.distill.data import Augment, _key, face_rects, jittered_crops

    assert Augment().key() == ("Augment(rotate_deg=12.0, scale=(0.9, 1.15), shift=0.06, flip=True, color=True, "
                               "background_fraction=0.05)")
    fast = augment_of(DistillConfig(augment=("flip", "color", "scale", "rotate", "shift", "lag", "motion_blur")))
    assert fast.lag_shift == 0.15 and fast.motion_blur == 0.2 and fast.key() != Augment().key()
    assert _key("iris", [], 0, fast, 1) != _key("iris", [], 0, Augment(), 1)
    still = tmp_path / "astronaut.png"
    cv2.imwrite(str(still), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    frames, items = face_rects("face_mesh", [still], progress=False)
    plain = jittered_crops("face_mesh", frames, items, 0, Augment(color=False), 4)
    blurred = jittered_crops("face_mesh", frames, items, 0, Augment(color=False, motion_blur=1.0), 4)
    lagged = jittered_crops("face_mesh", frames, items, 0, Augment(color=False, lag_shift=0.15, lag_fraction=1.0), 4)
    assert plain.shape == blurred.shape == lagged.shape
    # off means no draw: the lag's probability alone changes nothing
    off = jittered_crops("face_mesh", frames, items, 0, Augment(color=False, lag_fraction=1.0), 4)
    assert np.array_equal(plain, off)

    def sharpness(x):
        return float(np.mean([cv2.Laplacian(c, cv2.CV_32F).var() for c in x]))

    assert sharpness(blurred) < 0.7 * sharpness(plain)
    assert not np.array_equal(lagged, plain)


@pytest.mark.parametrize("role", STUDENT_ROLES)
def test_committed_student_meets_its_budget(role, crops):
    if not checkpoint_path(role).is_file():
        pytest.fail(f"no committed {role} student at {checkpoint_path(role)}")
    student = create_model(f"{role}_student")
    assert isinstance(student, Student)
    teacher = create_model(f"{role}_teacher")
    x = torch.from_numpy(crops[role])
    ratio = conv_macs(student, x) / conv_macs(teacher, x)
    if role == "face_mesh":
        assert ratio <= 1 / 3, f"face-mesh student at {ratio:.3f} of the teacher's MACs (issue: <= 1/3)"
    else:
        assert ratio < 0.5
    prov = student.provenance
    assert prov["data"]["sources_sha256"] and prov["recipe"]["name"] == f"{role}_student"
    # the committed weights come from the checked-in recipe as it stands (every step, resumed ones included)
    import json

    from motionmask_compress.recipes import Recipe, shipped_recipe

    plain = lambda d: json.loads(json.dumps(d, sort_keys=True))  # noqa: E731 (fields added since: their defaults)
    assert plain(Recipe.from_dict(prov["recipe"]).to_dict()) == plain(shipped_recipe(f"{role}_student").to_dict())
    with torch.no_grad():
        outs = student(x)
    assert [o.shape for o in outs] == [o.shape for o in teacher(x)]


def test_a_resumed_distill_step_continues_the_previous_student(tmp_path, astronaut, monkeypatch):
    """Two distill steps (the second ``resume``s on new jitter rounds) give the same student whether run in one go or
    resumed from the first step's checkpoint; recipes that resume nothing, or change the width, are refused."""
    import dataclasses

    import cv2

    import motionmask_compress.distill.data as data_mod
    from motionmask_compress.distill import distill_recipe
    from motionmask_compress.recipes import Recipe
    from motionmask_compress.zoo.students import save_student

    cv2.imwrite(str(tmp_path / "astronaut.png"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    monkeypatch.setattr(data_mod, "shared_data_dir", lambda: tmp_path)  # the sources: one real still
    import motionmask.defaults

    monkeypatch.setattr(motionmask.defaults, "cache_root", lambda: tmp_path / "cache")  # crop sets written here
    first = DistillConfig(teacher="iris_teacher", student="iris_student", epochs=2, batch_size=8, width=0.5,
                          train_images=("astronaut.png",), copies=2)
    second = DistillConfig(teacher="iris_teacher", student="iris_student", epochs=2, batch_size=8, width=0.5,
                           train_images=("astronaut.png",), copies=2, resume=True, first_round=1,
                           learning_rate=5e-4)
    both = Recipe(name="two", model="iris_teacher", steps=(first, second))
    student, prov = distill_recipe(both, "iris", progress=False)
    assert len(prov["previous_steps"]) == 1 and prov["config"]["resume"] and prov["config"]["first_round"] == 1
    assert len(prov["history"]["epochs"]) == 2 and len(prov["previous_steps"][0]["history"]["epochs"]) == 2

    one, prov1 = distill_recipe(Recipe(name="one", model="iris_teacher", steps=(first,)), "iris", progress=False)
    ckpt = save_student(one, prov1, tmp_path / "first.pt")
    resumed, prov2 = distill_recipe(both, "iris", resume_from=ckpt, progress=False)
    for (name, a), b in zip(student.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert prov2["previous_steps"][0]["history"]["epochs"] == prov["previous_steps"][0]["history"]["epochs"]
    with pytest.raises(ValueError, match="nothing left|not trained"):
        distill_recipe(Recipe(name="one", model="iris_teacher", steps=(first,)), "iris", resume_from=ckpt)
    other_first = dataclasses.replace(first, epochs=3)  # a checkpoint from another first step is refused
    with pytest.raises(ValueError, match="not trained"):
        distill_recipe(Recipe(name="two", model="iris_teacher", steps=(other_first, second)), "iris", resume_from=ckpt)

    with pytest.raises(RecipeError, match="no distill step comes before"):
        Recipe(name="r", model="iris_teacher", steps=(second,))
    with pytest.raises(RecipeError, match="does not resume"):
        Recipe(name="r", model="iris_teacher", steps=(first, first))
    with pytest.raises(RecipeError, match="width"):
        Recipe(name="r", model="iris_teacher", steps=(first, DistillConfig(width=0.25, resume=True)))
    with pytest.raises(RecipeError, match="first_round"):
        DistillConfig(first_round=-1)
