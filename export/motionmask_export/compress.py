"""``motionmask-build compress``: run one recipe end to end and report it; ``sweep``: several, tabulated.

A run: (1) distil the student when the recipe has a distill step (or reuse a trained checkpoint), (2) export the
FP32 teacher (the baseline) and the compressed model for each target, the compressed one quantized per the PTQ
step on real calibration crops, (3) parity of every artifact against the FP32 teacher on crops of the held-out
videos, (4) latency of baseline and compressed artifact in the same process, per backend and thread count, as
ratios, (5) the clinical gates on the held-out videos with the compressed model swapped into the teacher
pipeline, (6) ``report.json`` + ``report.html`` in the output folder. Nothing is written outside it.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from motionmask.backends import SessionOptions
from motionmask_compress.recipes import DistillConfig, PtqConfig, Recipe
from motionmask_compress.zoo import create_model
from motionmask_compress.zoo.prune import conv_macs
from motionmask_export.build import SUFFIX, _teacher_preprocessing, role_of
from motionmask_export.exporters import get_exporter
from motionmask_export.parity import compare_model

TARGETS = ("tflite", "onnx", "coreml")
# backends timed per target (coreml-mil is a numpy reference executor, not a runtime: not timed)
TIMED_BACKENDS = {"tflite": "litert", "onnx": "onnxruntime"}


def _size(path: Path) -> int:
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _latency_ms(artifact, x: np.ndarray, backend: str, threads: int, repeats: int = 30) -> float:
    runner = artifact.open(backend, SessionOptions(num_threads=threads))
    for _ in range(3):
        runner(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        runner(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def _torch_stats(model: torch.nn.Module, example: torch.Tensor) -> dict:
    return {"parameters": int(sum(p.numel() for p in model.parameters())), "macs": int(conv_macs(model, example))}


def _without_history(prov: dict) -> dict:
    """A student's provenance for the report: per-epoch histories left out (the last step's is reported apart)."""
    out = {k: v for k, v in prov.items() if k != "history"}
    if out.get("previous_steps"):
        out["previous_steps"] = [{k: v for k, v in p.items() if k != "history"} for p in out["previous_steps"]]
    return out


def compress(recipe: Recipe, out_dir: Path, student: Path | None = None, targets: tuple[str, ...] = TARGETS,
             clinical: bool = True, threads: tuple[int, ...] = (1, 2), progress: bool = True) -> dict:
    """Run ``recipe``; write artifacts and reports under ``out_dir``; return the report dict."""
    from motionmask_compress.zoo.students import load_student, save_student
    from motionmask_export.gates import clinical_gates
    from motionmask_export.samples import SHARED_DATA, video_model_inputs

    out_dir = Path(out_dir)
    (out_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    role = role_of(recipe)
    t_start = time.time()
    report: dict = {"recipe": recipe.to_dict(), "role": role,
                    "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()}}
    teacher = create_model(f"{role}_teacher")
    distill = next((s for s in recipe.steps if isinstance(s, DistillConfig)), None)
    ptq = next((s for s in recipe.steps if isinstance(s, PtqConfig)), None)
    model = teacher
    if distill is not None:
        if student is not None:
            model = load_student(role, Path(student))
            report["student"] = {"checkpoint": str(student), "trained_in_this_run": False,
                                 "provenance": _without_history(model.provenance)}
        else:
            from motionmask_compress.distill import distill_recipe

            model, prov = distill_recipe(recipe, role, progress=progress)
            prov["recipe"] = recipe.to_dict()
            path = save_student(model, prov, out_dir / f"{role}_student.pt")
            report["student"] = {"checkpoint": str(path), "trained_in_this_run": True,
                                 "provenance": _without_history(prov),
                                 "history": prov["history"]}
    held = video_model_inputs(recipe.held_out_videos, 100, progress=progress)[role]
    example = torch.from_numpy(held[:1])
    report["model"] = {"teacher": _torch_stats(teacher, example), "compressed": _torch_stats(model, example)}
    report["model"]["macs_ratio"] = report["model"]["compressed"]["macs"] / report["model"]["teacher"]["macs"]
    calib = None
    if ptq is not None:
        calib = list(video_model_inputs(ptq.calibration_videos, ptq.calibration_samples, progress=progress)[role])
    precision = "int8" if ptq is not None else "fp32"
    pre = _teacher_preprocessing(role)
    artifacts, rows = {}, []
    for target in targets:
        exporter = get_exporter(target)
        base = exporter(teacher, example, out_dir / "artifacts" / f"{role}-teacher-fp32{SUFFIX[target]}", "fp32", pre)
        kwargs = {"calibration": calib, "ptq": ptq} if ptq is not None else {}
        comp = exporter(model, example, out_dir / "artifacts" / f"{role}-{precision}{SUFFIX[target]}", precision, pre,
                        **kwargs)
        artifacts[target] = comp
        runner = comp.open()
        parity = compare_model(role, target, precision, runner.backend.name, teacher, runner, held)
        row = {"target": target, "precision": precision, "file": comp.path.name, "bytes": _size(comp.path),
               "teacher_bytes": _size(base.path), "parity": {"stage": parity.stage, "gates": parity.gates,
                                                            "status": parity.status, "failures": parity.failures,
                                                            "tensors": parity.tensors}}
        row["size_ratio"] = row["bytes"] / row["teacher_bytes"]
        if target in TIMED_BACKENDS:
            lat = {}
            for n in threads:
                t_ms = _latency_ms(base, held[:1], TIMED_BACKENDS[target], n)
                c_ms = _latency_ms(comp, held[:1], TIMED_BACKENDS[target], n)
                lat[str(n)] = {"teacher_ms": t_ms, "compressed_ms": c_ms, "speedup": t_ms / c_ms}
            row["latency"] = {"backend": TIMED_BACKENDS[target], "threads": lat}
        rows.append(row)
    report["artifacts"] = rows
    if clinical and recipe.held_out_videos:
        videos = [SHARED_DATA / "videos" / v for v in recipe.held_out_videos]
        refs: dict = {}
        report["clinical"] = {}
        for target, comp in artifacts.items():  # coreml: the numpy ML-program executor (~19 ms a face-mesh call)
            report["clinical"][target] = clinical_gates({role: comp.open()}, videos, recipe.gates, progress, refs)
    report["passed"] = all(r["parity"]["status"] == "passed" for r in rows) and all(
        c["gates"]["passed"] for c in report.get("clinical", {}).values())
    report["seconds"] = time.time() - t_start
    write_report(report, out_dir)
    return report


# ---- reports ----------------------------------------------------------------------------------------------------
def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """``report.json`` and ``report.html`` (atomic writes)."""
    out_dir = Path(out_dir)
    js = out_dir / "report.json"
    tmp = js.with_suffix(".tmp")
    tmp.write_text(json.dumps(_jsonable(report), indent=1))
    tmp.replace(js)
    page = out_dir / "report.html"
    tmp = page.with_suffix(".tmp")
    tmp.write_text(render_html([report], title=f"MotionMask compression: {report['recipe']['name']}"))
    tmp.replace(page)
    return js, page


def summary_rows(reports: list[dict]) -> list[dict]:
    """One row per (recipe, target): the numbers a trade-off table needs."""
    rows = []
    for rep in reports:
        for a in rep["artifacts"]:
            lat = a.get("latency", {}).get("threads", {}).get("1", {})
            gates = rep.get("clinical", {}).get(a["target"], {}).get("gates", {})
            rows.append({
                "recipe": rep["recipe"]["name"], "target": a["target"], "precision": a["precision"],
                "params": rep["model"]["compressed"]["parameters"], "macs_ratio": rep["model"]["macs_ratio"],
                "kb": a["bytes"] / 1024, "size_ratio": a["size_ratio"],
                "nme_pct": a["parity"]["stage"]["nme_pct"], "parity": a["parity"]["status"],
                "speedup_1t": lat.get("speedup"), "ms_1t": lat.get("compressed_ms"),
                "gates": None if not gates else ("passed" if gates["passed"] else "failed"),
            })
    return rows


def table(reports: list[dict]) -> str:
    head = (f"{'recipe':22s} {'target':7s} {'prec':5s} {'params':>8s} {'MACs x':>7s} {'KB':>8s} {'size x':>7s} "
            f"{'NME %':>7s} {'parity':>7s} {'ms 1t':>7s} {'speed x':>8s} {'gates':>7s}")
    lines = [head, "-" * len(head)]
    for r in summary_rows(reports):
        ms = "-" if r["ms_1t"] is None else f"{r['ms_1t']:.2f}"
        sp = "-" if r["speedup_1t"] is None else f"{r['speedup_1t']:.2f}"
        lines.append(f"{r['recipe']:22s} {r['target']:7s} {r['precision']:5s} {r['params']:8d} {r['macs_ratio']:7.3f} "
                     f"{r['kb']:8.1f} {r['size_ratio']:7.3f} {r['nme_pct']:7.3f} {r['parity']:>7s} {ms:>7s} "
                     f"{sp:>8s} {r['gates'] or '-':>7s}")
    return "\n".join(lines)


def tradeoff_png(reports: list[dict]) -> bytes:
    """Size (KB) vs NME (% vs teacher), one panel per model role (their NME units differ), one colour per target;
    filled markers passed the clinical gates, hollow ones failed them; labels give the 1-thread speed-up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary_rows(reports)
    roles = {rep["recipe"]["name"]: rep.get("role", rep["recipe"]["name"]) for rep in reports}
    panels = sorted(set(roles.values()))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, role in zip(axes[0], panels):
        for target, colour in zip(TARGETS, ("tab:blue", "tab:orange", "tab:green")):
            sel = [r for r in rows if r["target"] == target and roles[r["recipe"]] == role]
            for r in sel:
                ok = r["gates"] == "passed"
                ax.scatter([r["kb"]], [r["nme_pct"]], s=70, edgecolors=colour, linewidths=1.8,
                           facecolors=colour if ok else "none")
                speed = "" if r["speedup_1t"] is None else f" {r['speedup_1t']:.2f}×"
                ax.annotate(f"{r['recipe']}{speed}", (r["kb"], r["nme_pct"]), fontsize=6.5, xytext=(4, 4),
                            textcoords="offset points")
            if sel:
                ax.plot([], [], "o", color=colour, label=target)  # legend entry: the target's colour only
        ax.legend(fontsize=7)
        ax.set_title(role, fontsize=10)
        ax.set_xlabel("artifact size (KB)")
        ax.set_ylabel("NME vs FP32 teacher (%, the role's own unit)")
        ax.grid(alpha=0.3)
    fig.suptitle("size / accuracy / speed-up (1 thread, × teacher); filled = clinical gates passed, hollow = failed",
                 fontsize=9)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def render_html(reports: list[dict], title: str) -> str:
    esc = html.escape
    parts = [f"<html><head><meta charset='utf-8'><title>{esc(title)}</title>"
             "<style>body{font-family:sans-serif;margin:2em} pre{background:#f6f6f6;padding:1em} "
             "td,th{padding:2px 8px;border-bottom:1px solid #ddd} .failed{color:#b00} .passed{color:#070}</style>"
             f"</head><body><h1>{esc(title)}</h1>", f"<pre>{esc(table(reports))}</pre>"]
    png = base64.b64encode(tradeoff_png(reports)).decode()
    parts.append(f"<img src='data:image/png;base64,{png}'>")
    for rep in reports:
        parts.append(f"<h2>{esc(rep['recipe']['name'])} ({esc(rep['role'])}): "
                     f"<span class='{'passed' if rep['passed'] else 'failed'}'>"
                     f"{'passed' if rep['passed'] else 'failed'}</span></h2>")
        m = rep["model"]
        parts.append(f"<p>parameters {m['teacher']['parameters']:,} → {m['compressed']['parameters']:,}; "
                     f"MACs {m['teacher']['macs']:,} → {m['compressed']['macs']:,} ({m['macs_ratio']:.3f}x)</p>")
        for target, c in rep.get("clinical", {}).items():
            parts.append(f"<h3>clinical gates, {esc(target)}</h3><table><tr><th>gate</th><th>worst value</th>"
                         "<th>limit</th><th>video</th><th></th></tr>")
            for gate, g in c["gates"].items():
                if gate == "passed":
                    continue
                val = "n/a" if g["value"] is None else f"{g['value']:.4f}"
                ok = "passed" if g["passed"] else "failed"
                parts.append(f"<tr><td>{esc(gate)}</td><td>{val}</td><td>{g['limit']}</td>"
                             f"<td>{esc(str(g['video']))}</td><td class='{ok}'>{ok}</td></tr>")
            parts.append("</table><pre>" + esc(json.dumps(_jsonable(c["videos"]), indent=1)) + "</pre>")
        parts.append("<details><summary>full report</summary><pre>"
                     + esc(json.dumps(_jsonable({k: v for k, v in rep.items() if k != "artifacts"}), indent=1)[:20000])
                     + "</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)
