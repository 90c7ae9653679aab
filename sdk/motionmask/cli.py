"""``motionmask``: track faces in video, check bundles.

Commands:
    motionmask track VIDEO --out track.npz [--bundle B] [--backend NAME] [--overlay overlay.mp4]
    motionmask parity BUNDLE [--backend NAME]
    motionmask evaluate ORIGINAL PROCESSED --out DIR [--gallery DIR] [--blink-labels CSV]
    motionmask deidentify VIDEO --out OUT.mp4 [--mode mask|swap] [--source source.npz] [--signals S.npz]
    motionmask make-source --from DIR_OR_FILES... --out source.npz [--min-people 8]
    motionmask enroll IMAGE_OR_VIDEO... --out source.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from motionmask.errors import MotionMaskError


def _progress(total: int | None, desc: str, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # the runtime-only install has no tqdm: no bar
        return None
    return tqdm(total=total or None, desc=desc, unit="frame", disable=not enabled, dynamic_ncols=True)


def _cmd_track(args) -> int:
    from motionmask.track_video import track_video

    track = track_video(
        Path(args.video), Path(args.out), bundle_path=args.bundle, backend=args.backend, max_faces=args.max_faces,
        smoothing=args.smoothing, overlay_path=Path(args.overlay) if args.overlay else None,
        progress_factory=lambda total: _progress(total, "tracking", not args.quiet),
    )
    present = track.face_present.any(axis=1).mean() if len(track.face_present) else 0.0
    print(f"{args.out}: {track.landmarks.shape[0]} frames, face found in {present:.1%} of them")
    if args.overlay:
        print(f"overlay: {args.overlay}")
    return 0


def _cmd_deidentify(args) -> int:
    from motionmask.deidentify_video import deidentify_video

    summary = deidentify_video(
        Path(args.video), Path(args.out), mode=args.mode, bundle_path=args.bundle, backend=args.backend,
        max_faces=args.max_faces, keep_audio=not args.no_audio,
        signals_path=Path(args.signals) if args.signals else None,
        progress_factory=lambda total: _progress(total, "de-identifying", not args.quiet), avatar_only=args.avatar,
        source_path=Path(args.source) if args.source else None, reuse_unchanged_tiles=not args.scan_every_frame,
    )
    print(f"{args.out}: {summary['frames']} frames, {summary['faces_replaced']} faces replaced, "
          f"{summary['regions_covered']} extra regions covered, {summary['frames_covered']} frames covered whole, "
          f"audio {'kept' if summary['audio'] else 'none'}")
    if args.signals:
        print(f"signals: {args.signals}")
    return 0


def _cmd_source(args) -> int:
    from motionmask.swap.make import make_source, people_from

    kind = "enrolled" if args.command == "enroll" else "synthetic"
    inputs = args.inputs
    bar = _progress(len(people_from(inputs)) if kind == "synthetic" else 1, "people", not args.quiet)
    source = make_source(inputs, kind, getattr(args, "min_people", None), bundle_path=args.bundle,
                         progress=bar.update if bar is not None else None)
    if bar is not None:
        bar.close()
    source.save(args.out)
    dist = source.provenance.get("contributor_distances")
    check = f"; identity judge distance to each contributor >= {min(dist):.3f}" if dist else ""
    print(f"{args.out}: {kind} source from {source.contributors} people{check}")
    return 0


def _cmd_parity(args) -> int:
    from motionmask.bundle import Bundle

    with Bundle(args.bundle):  # verifies schema and hashes first, with a clear error
        pass
    try:
        from motionmask_export.build import parity_path, validate_bundle
    except ImportError:
        from motionmask.parity import check_golden

        report = check_golden(Path(args.bundle), backend=args.backend)
        print(report.table())
        return 0 if report.status == "passed" else 1
    report = validate_bundle(Path(args.bundle), backend=args.backend, progress=not args.quiet)
    print(report.table())
    report.to_json(parity_path(Path(args.bundle)))
    return 0 if report.status == "passed" else 1


def _cmd_evaluate(args) -> int:
    from motionmask.evaluation.run import evaluate

    result = evaluate(
        Path(args.original), Path(args.processed), Path(args.out), gallery=Path(args.gallery) if args.gallery else None,
        patient=args.patient, blink_labels=args.blink_labels, bundle=args.bundle, identity_frames=args.identity_frames,
        identity=not args.no_identity, body=not args.no_body, body_frames=args.body_frames,
        progress_factory=lambda total, desc: _progress(total, desc, not args.quiet),
    )
    from motionmask.evaluation import flatten
    from motionmask.evaluation.report import KEY_ROWS

    flat = flatten(result)
    for key, _ in KEY_ROWS:
        if key in flat:
            value = flat[key]
            print(f"{key:34s} {value:.4g}" if isinstance(value, float) else f"{key:34s} {value}")
    t = result["timing"]
    print(f"time: tracking {t['tracking_s']:.1f} s, metrics {t['metrics_s']:.1f} s, body {t['body_s']:.1f} s, "
          f"identity (in parallel) +{t['identity_wait_s']:.1f} s, html {t['html_s']:.1f} s: "
          f"{t['realtime_factor_excluding_tracking']:.1f}x real time excluding tracking")
    print(f"report: {Path(args.out) / 'report.json'}\n        {Path(args.out) / 'report.html'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motionmask", description="MotionMask runtime tools")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("track", help="track face landmarks (478-point layout) in a video")
    t.add_argument("video")
    t.add_argument("--out", required=True, help="output .npz (landmarks, face_present, timestamps_ms, fps)")
    t.add_argument("--bundle", help="bundle file (any target/precision); default: the bundle `make setup` built")
    t.add_argument("--backend", help="onnxruntime, litert, coreml, coreml-mil (default: by the bundle's format)")
    t.add_argument("--max-faces", type=int, default=1)
    t.add_argument("--smoothing", action="store_true", help="One-Euro smoothing of the landmarks")
    t.add_argument("--overlay", help="also write an .mp4 with the landmarks drawn")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(fn=_cmd_track)
    d = sub.add_parser("deidentify", help="replace every face, keep the motion (mask mode)")
    d.add_argument("video")
    d.add_argument("--out", required=True, help="output .mp4 (written only when complete)")
    d.add_argument("--mode", choices=("mask", "swap"), default="mask",
                   help="mask: 3D mask (Digital Mask); swap: a source face painted by the generator (FMP)")
    d.add_argument("--source", help="swap mode: source face .npz (default: the synthetic one `make setup` builds)")
    d.add_argument("--signals", help="also write the per-frame motion parameters (.npz)")
    audio = d.add_mutually_exclusive_group()
    audio.add_argument("--keep-audio", action="store_true", default=True, help="copy the audio (default)")
    audio.add_argument("--no-audio", action="store_true", help="drop the audio")
    d.add_argument("--bundle")
    d.add_argument("--backend")
    d.add_argument("--max-faces", type=int, default=4)
    d.add_argument("--avatar", action="store_true", help="masks only, on a plain background (nothing of the frame)")
    d.add_argument("--scan-every-frame", action="store_true",
                   help="run the fail-closed detector scan on every tile of every frame (default: a tile whose "
                        "pixels outside the replaced faces have not changed reuses its last scan, up to 10 frames)")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(fn=_cmd_deidentify)
    m = sub.add_parser("make-source", help="a synthetic source face (the average of >= 8 people) for swap mode")
    m.add_argument("--from", dest="inputs", nargs="+", required=True,
                   help="videos/images (one person each) or folders (sub-folders = one person each)")
    m.add_argument("--out", required=True, help="source .npz to write")
    m.add_argument("--min-people", type=int, default=8)
    m.add_argument("--bundle")
    m.add_argument("--quiet", action="store_true")
    m.set_defaults(fn=_cmd_source)
    n = sub.add_parser("enroll", help="a consented person's face as the swap-mode source")
    n.add_argument("inputs", nargs="+", help="images or videos of that one person")
    n.add_argument("--out", required=True, help="source .npz to write")
    n.add_argument("--bundle")
    n.add_argument("--quiet", action="store_true")
    n.set_defaults(fn=_cmd_source)
    p = sub.add_parser("parity", help="re-validate a bundle; prints the table, exits 1 if a check fails")
    p.add_argument("bundle")
    p.add_argument("--backend")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_cmd_parity)
    e = sub.add_parser("evaluate", help="motion fidelity + privacy of a processed video against its original")
    e.add_argument("original", help="original video (or its track .npz)")
    e.add_argument("processed", help="processed video (or its track .npz)")
    e.add_argument("--out", required=True, help="report folder (report.json, report.html, tracks)")
    e.add_argument("--gallery", help="folder of identity folders (images/videos) for the re-identification lineup")
    e.add_argument("--patient", help="gallery identity that is the patient (default: the best match of the original)")
    e.add_argument("--blink-labels", help="CSV of start_frame,end_frame human blink labels of the original")
    e.add_argument("--bundle", help="bundle used to track both videos")
    e.add_argument("--identity-frames", type=int, help="frame pairs sampled for the identity judge "
                   "(default: one every 4 s of video, at least 8)")
    e.add_argument("--no-identity", action="store_true", help="skip the identity judge")
    e.add_argument("--no-body", action="store_true", help="skip the body-keypoint (pose) comparison")
    e.add_argument("--body-frames", type=int, help="frames sampled for body keypoints (default: one per 2 s, >= 10)")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(fn=_cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except MotionMaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
