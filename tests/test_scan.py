"""The fail-closed tile scan and its reuse of unchanged tiles (motionmask.tracking.scan): tile layout, the block-change
rule, and end to end a small face that appears in a still scene is covered in the very frame it appears."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from motionmask.tracking.scan import TileScanCache, scan_tiles


def test_tiles_cover_the_frame_with_overlap():
    tiles = scan_tiles(512, 512)
    assert tiles == [(x, y, 256) for y in (0, 192, 256) for x in (0, 192, 256)]
    assert scan_tiles(300, 800) == []  # short side under 2 x 192: the whole-frame pass is enough
    tiles = scan_tiles(720, 1280)
    assert {s for _, _, s in tiles} == {360}
    covered = np.zeros((720, 1280), bool)
    for x, y, s in tiles:
        covered[y:y + s, x:x + s] = True
    assert covered.all()


def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), (512, 512), interpolation=cv2.INTER_LINEAR)


def test_unchanged_tiles_are_reused_and_changed_ones_are_not():
    cache = TileScanCache(threshold=6.0, max_reuse=3)
    frame = _scene()
    cache.new_frame(frame)
    with pytest.raises(RuntimeError):
        TileScanCache().lookup(0, 0, 256)
    assert cache.lookup(0, 0, 256) is None  # never scanned
    cache.store(0, 0, 256, ["a face"])
    cache.store(256, 256, 256, [])
    noisy = np.clip(frame.astype(int) + np.random.default_rng(1).integers(-3, 4, frame.shape), 0, 255).astype(np.uint8)
    cache.new_frame(noisy)  # pixel noise of a few grey levels: the block means stay put
    assert cache.lookup(0, 0, 256) == ["a face"] and cache.lookup(256, 256, 256) == []
    moved = noisy.copy()
    moved[40:48, 40:48] = 255 - moved[40:48, 40:48]  # one 8x8 block inside the first tile changes
    cache.new_frame(moved)
    assert cache.lookup(0, 0, 256) is None
    assert cache.lookup(256, 256, 256) == []  # the other tile does not contain that block
    assert cache.scanned == 2 and cache.reused == 3


def test_changes_inside_covered_regions_do_not_force_a_scan_but_uncovering_does():
    cache = TileScanCache()
    frame = _scene()
    hood = np.array([[16, 16], [200, 16], [200, 200], [16, 200]], np.float32)
    cache.new_frame(frame, [hood])
    cache.store(0, 0, 256, [])
    changed = frame.copy()
    changed[40:180, 40:180] = 0  # a change wholly inside the hood
    cache.new_frame(changed, [hood])
    assert cache.lookup(0, 0, 256) == []
    cache.new_frame(changed, [hood + 30])  # the hood moves: the changed pixels it leaves are compared again
    assert cache.lookup(0, 0, 256) is None
    edge = frame.copy()
    edge[200:203, 100:110] = 0  # changed pixels that straddle the hood's edge: the block is not wholly covered
    cache.new_frame(edge, [hood])
    assert cache.lookup(0, 0, 256) is None


def test_reuse_is_bounded_and_a_new_frame_size_starts_over():
    cache = TileScanCache(max_reuse=2)
    frame = _scene()
    cache.new_frame(frame)
    cache.store(0, 0, 256, [])
    hits = []
    for _ in range(4):
        cache.new_frame(frame)
        hit = cache.lookup(0, 0, 256)
        hits.append(hit is not None)
        if hit is None:
            cache.store(0, 0, 256, [])
    assert hits == [True, True, False, True]
    cache.new_frame(cv2.resize(frame, (640, 512)))
    assert cache.lookup(0, 0, 256) is None


def test_a_small_face_appearing_in_a_still_scene_is_covered_in_its_first_frame(astronaut):
    """The astronaut (tracked, replaced) in a still frame; a second face, too small for the whole-frame detector,
    appears in frame 4. The still frames reuse their tiles; frame 4 must cover the new face all the same, and
    reuse on and off give the same covered regions on every frame."""
    from motionmask.deidentifier import FaceDeidentifier, FaceDeidentifierOptions, RunningMode

    small = cv2.resize(astronaut[40:230, 150:320], (72, 72), interpolation=cv2.INTER_AREA)
    with_face = astronaut.copy()
    with_face[428:500, 10:82] = small
    frames = [astronaut] * 4 + [with_face] * 2
    covered = {}
    for reuse in (True, False):
        opts = FaceDeidentifierOptions(running_mode=RunningMode.VIDEO, reuse_unchanged_tiles=reuse)
        with FaceDeidentifier.create_from_options(opts) as d:
            results = [d.deidentify_for_video(f, 40.0 * i) for i, f in enumerate(frames)]
            stats = d.scan_stats
        assert all(len(r.faces) == 1 and r.faces[0].replaced for r in results)
        covered[reuse] = [r.covered_regions for r in results]
        if reuse:
            assert stats["reused"] >= 3 * 9, f"the still frames should reuse their tiles: {stats}"
            new_face = results[4]
            assert any(x0 <= 46 <= x1 and y0 <= 464 <= y1 for x0, y0, x1, y1 in new_face.covered_regions), \
                f"the new face at (46, 464) is not covered: {new_face.covered_regions}"
            assert np.abs(new_face.image[440:490, 20:72].astype(int) - small[12:62, 10:62]).mean() > 20
    assert covered[True] == covered[False]


def test_deidentify_cli_scan_every_frame_gives_the_same_video_on_a_still_clip(astronaut, tmp_path):
    """`motionmask deidentify --scan-every-frame` (no reuse) and the default (reuse) write the same video, up to
    the sub-pixel jitter of a cover box, on a still clip with a small second face in the corner (the mp4 codec makes
    the decoded frames differ by a few grey levels, so the scanned boxes move by a fraction of a pixel)."""
    from motionmask.cli import main
    from motionmask.video import VideoWriter, iter_frames

    frame = astronaut.copy()
    frame[428:500, 10:82] = cv2.resize(astronaut[40:230, 150:320], (72, 72), interpolation=cv2.INTER_AREA)
    video = tmp_path / "still.mp4"
    with VideoWriter(video, 25.0, (512, 512)) as w:
        for _ in range(5):
            w.write(frame)
    outs = {}
    for flag in ([], ["--scan-every-frame"]):
        out = tmp_path / f"out{len(flag)}.mp4"
        assert main(["deidentify", str(video), "--out", str(out), "--no-audio", "--quiet", *flag]) == 0
        outs[len(flag)] = [f for _, _, f in iter_frames(out)]
    assert len(outs[0]) == len(outs[1]) == 5
    for a, b in zip(outs[0], outs[1]):
        assert np.abs(a.astype(int) - b).mean() < 0.5
        for out in (a, b):
            corner = np.abs(out[440:490, 20:72].astype(int) - frame[440:490, 20:72]).mean()
            assert corner > 20, "the small face must be covered"
