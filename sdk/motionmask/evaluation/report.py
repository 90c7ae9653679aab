"""Self-contained HTML report of an evaluation: the key numbers and the plots (PNG embedded as base64)."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np

from motionmask.evaluation import flatten
from motionmask.evaluation.blinks import detect_blinks

KEY_ROWS = [
    ("motion.pearson_x", "Landmark-pair correlation r_x (FMP)"),
    ("motion.pearson_y", "Landmark-pair correlation r_y (FMP)"),
    ("motion.pearson_cca", "Landmark-pair canonical correlation r_CCA (FMP)"),
    ("blinks.threshold", "Blink EAR threshold (best F1)"),
    ("blinks.precision", "Blink precision"),
    ("blinks.recall", "Blink recall"),
    ("blinks.f1", "Blink F1"),
    ("blinks.ear_mean_abs_dev", "Mean |EAR difference|"),
    ("tremor.band_power_original", "4-6 Hz lip power, original"),
    ("tremor.band_power_processed", "4-6 Hz lip power, processed"),
    ("tremor.relative_deviation", "4-6 Hz power relative deviation"),
    ("geometry.eyelid.mean", "Eyelid landmark error (x IOD, DM)"),
    ("geometry.iris.mean", "Iris landmark error (x IOD, DM)"),
    ("identity.compared_frames", "Identity: compared frames"),
    ("identity.mean_distance", "Identity: mean distance to the original face"),
    ("identity.leak_fraction", "Identity: frames where the original shows through (< 0.45)"),
    ("identity.reidentified_fraction", "Identity: frames under dlib's same-person threshold (< 0.6)"),
    ("identity.rank1", "Identity: Rank-1 re-identification in the gallery (DM)"),
    ("identity.gallery.identities", "Identity: gallery identities"),
    ("identity.gallery.original_rank1", "Identity: Rank-1 of the original (control: the gallery knows the patient)"),
    ("identity.gallery.rank1_video_identities", "Identity: Rank-1 among the gallery's video identities only"),
    ("body.oks_mean", "Body: mean OKS of the processed keypoints vs the original (FMP)"),
    ("body.ap50", "Body: AP at OKS 0.5 (FMP AP^0.5)"),
    ("body.ap50_95", "Body: AP averaged over OKS 0.5:0.95 (FMP AP^0.5:0.95)"),
    ("body.compared_frames", "Body: compared frames"),
    ("body.frames_without_body", "Body: sampled frames whose original shows no body"),
    ("frames.total", "Frames compared"),
    ("frames.used", "Frames with a face in both videos"),
]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _figures(result: dict) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = []
    fps = float(result["frames"].get("fps", 30.0))
    m = result["motion"]
    if "matrix_cca" in m:
        fig, axes = plt.subplots(1, 3, figsize=(13, 4))
        for ax, key, title in zip(axes, ("matrix_x", "matrix_y", "matrix_cca"), ("r_x", "r_y", "r_CCA")):
            im = ax.imshow(np.asarray(m[key], float), vmin=-1, vmax=1, cmap="RdBu_r")
            ax.set_title(f"landmark-pair {title}")
            ax.set_xlabel("inner-face landmark (iBUG 18-68)")
        fig.colorbar(im, ax=axes, shrink=0.8)
        figs.append(("Motion: correlation of every landmark pair (FMP Fig. 6E)", _png(fig)))
    b = result["blinks"]
    if "ear_original" in b:
        ear_o, ear_p = np.asarray(b["ear_original"], float), np.asarray(b["ear_processed"], float)
        t = np.arange(len(ear_o)) / fps
        thr = b["threshold"] if np.isfinite(b.get("threshold", np.nan)) else 0.2
        fig, ax = plt.subplots(figsize=(13, 3.5))
        ax.plot(t, ear_o, lw=1, label="original")
        ax.plot(t, ear_p, lw=1, label="processed")
        ax.axhline(thr, color="k", ls="--", lw=0.8, label=f"threshold {thr:.2f}")
        for ear, color, y in ((ear_o, "C0", 1.0), (ear_p, "C1", 0.96)):
            for s, e in detect_blinks(ear, fps, thr):
                ax.axvspan(s / fps, (e + 1) / fps, ymin=y - 0.04, ymax=y, color=color, alpha=0.8)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("eye aspect ratio")
        ax.legend(loc="lower right", fontsize=8)
        figs.append(("Blinks: eye aspect ratio with detected blinks (bars at the top; FMP Fig. 6C)", _png(fig)))
        curve = b.get("curve")
        if curve is not None:
            fig, ax = plt.subplots(figsize=(6, 3.2))
            ax.plot(curve["thresholds"], curve["precision"], label="precision")
            ax.plot(curve["thresholds"], curve["recall"], label="recall")
            ax.plot(curve["thresholds"], curve["f1"], label="F1")
            ax.set_xlabel("EAR threshold")
            ax.set_ylim(-0.02, 1.02)
            ax.legend(fontsize=8)
            figs.append(("Blinks: precision / recall over the threshold sweep", _png(fig)))
    tr = result["tremor"]
    if "spectrogram_original" in tr:
        f = np.asarray(tr["freqs"], float)
        so, sp = (np.asarray(tr[k], float) for k in ("spectrogram_original", "spectrogram_processed"))
        several = so.ndim == 2 and so.shape[1] >= 3
        fig, axes = plt.subplots(1, 3 if several else 1, figsize=(13, 3.5), squeeze=False)
        ax = axes[0, 0]
        for spec, label in ((so, "original"), (sp, "processed")):
            ax.semilogy(f, spec.mean(axis=1) if spec.ndim == 2 else spec, label=label)
        ax.axvspan(4, 6, color="cyan", alpha=0.2, label="4-6 Hz")
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("power (mean over segments)")
        ax.legend(fontsize=8)
        if several:
            times = np.asarray(tr["times"], float)
            for ax, spec, title in ((axes[0, 1], so, "original"), (axes[0, 2], sp, "processed")):
                ax.imshow(10 * np.log10(spec + 1e-20), aspect="auto", origin="lower", cmap="magma",
                          extent=[times.min(), times.max(), f.min(), f.max()])
                ax.axhspan(4, 6, color="cyan", alpha=0.15)
                ax.set_title(f"spectrogram, {title} (dB)")
                ax.set_xlabel("time (s)")
        figs.append(("Lip/jaw tremor: lip-track spectra, 4-6 Hz band shaded (FMP Fig. 6D)", _png(fig)))
    g = result["geometry"]
    if isinstance(g.get("eyelid"), dict) and "per_frame" in g["eyelid"]:
        fig, ax = plt.subplots(figsize=(13, 3))
        for key in ("eyelid", "iris"):
            ax.plot(np.arange(len(g[key]["per_frame"])) / fps, np.asarray(g[key]["per_frame"], float) * 100,
                    lw=1, label=key)
        ax.set_ylabel("% of inter-ocular distance")
        ax.set_xlabel("time (s)")
        ax.legend(fontsize=8)
        figs.append(("Geometry: eyelid and iris landmark error per frame (DM)", _png(fig)))
    ident = result.get("identity", {})
    if ident.get("per_frame"):
        rows = ident["per_frame"]
        fig, ax = plt.subplots(figsize=(13, 3))
        d = [r["min_distance"] if np.isfinite(r["min_distance"]) else np.nan for r in rows]
        ax.plot([r["frame"] for r in rows], d, "o-", ms=3)
        ax.axhline(ident["leak_distance"], color="r", ls="--", lw=0.8, label="original shows through (0.45)")
        ax.axhline(ident["same_person_distance"], color="k", ls=":", lw=0.8, label="dlib same-person (0.6)")
        ax.set_xlabel("frame")
        ax.set_ylabel("distance to original face")
        ax.legend(fontsize=8)
        figs.append(("Identity: distance of the processed face to the original face per sampled frame", _png(fig)))
    body = result.get("body", {})
    if body.get("per_frame") and "oks_mean" in body:
        rows = [r for r in body["per_frame"] if r.get("original_body")]
        fig, ax = plt.subplots(figsize=(13, 3))
        ax.plot([r["frame"] for r in rows], [r["oks"] for r in rows], "o-", ms=3, label="OKS")
        missing = [r["frame"] for r in body["per_frame"] if not r.get("original_body")]
        if missing:
            ax.plot(missing, [0.0] * len(missing), "x", color="gray", label="no body in the original")
        for t, style in ((0.5, "--"), (0.95, ":")):
            ax.axhline(t, color="k", ls=style, lw=0.8, label=f"OKS {t}")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("frame")
        ax.set_ylabel("OKS")
        ax.legend(fontsize=8)
        figs.append(("Body keypoints: OKS of the processed frame against the original per sampled frame (FMP)",
                     _png(fig)))
    return figs


def write_html(result: dict, path: Path) -> Path:
    """Write the report atomically (temp file, then rename)."""
    flat = flatten(result)
    rows = []
    for key, label in KEY_ROWS:
        if key in flat:
            value = flat[key]
            text = f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))
            rows.append(f"<tr><td>{html.escape(label)}</td><td><code>{key}</code></td><td>{text}</td></tr>")
    frames = result["frames"]
    notes = [f"Frames missing a face: original {frames.get('missing_original', 0)}, processed "
             f"{frames.get('missing_processed', 0)} (runs: original {frames.get('missing_original_runs', [])}, "
             f"processed {frames.get('missing_processed_runs', [])}). Frames used per metric: "
             f"{frames.get('used_by', {})}."]
    if "warning" in frames:
        notes.append(frames["warning"])
    for section in ("tremor", "identity", "body"):
        for key in ("error", "skipped"):
            if key in result.get(section, {}):
                notes.append(f"{section}: {result[section][key]}")
    plots = "\n".join(f"<h2>{html.escape(t)}</h2><img src='data:image/png;base64,{b64}'/>" for t, b64 in
                      _figures(result))
    inputs = result.get("inputs", {})
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>MotionMask evaluation</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}td{{padding:2px 10px}}
tr:nth-child(even){{background:#f3f3f3}}img{{max-width:100%}}</style></head><body>
<h1>MotionMask evaluation</h1>
<p>original: <code>{html.escape(str(inputs.get('original', '')))}</code><br>
processed: <code>{html.escape(str(inputs.get('processed', '')))}</code></p>
<table>{''.join(rows)}</table>
<ul>{''.join(f'<li>{html.escape(n)}</li>' for n in notes)}</ul>
{plots}
</body></html>"""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(doc)
    os.replace(tmp, path)
    return path
