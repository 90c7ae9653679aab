"""Put the acceptance's motion numbers next to the checks' own floor, clip by clip.

``deid_acceptance.py`` measures the de-identified output (re-tracked) against the original; ``motion_floor.py``
measures imperceptibly changed copies of the original the same way (re-written unchanged by the pipeline's writer,
shifted by half a pixel, scaled by 0.95, rotated by 3 degrees, blurred by 1 px). For every clip and check this prints
the output's value, the unchanged copy's, the copies' range and a verdict:

- ``met``: the output meets the target;
- ``floor``: it does not, and neither does the unchanged copy: no output can be relied on to meet it on this clip;
- ``spread``: it does not, but it lies inside the copies' range: the check cannot tell it from an unchanged video;
- ``gap``: it does not and lies outside that range (the de-identification loses this motion).

Blink checks count only on clips whose original has blinks. Writes OUT.json and OUT.png (the output against the
copies' range and the target, one panel a check).

    .venv/bin/python benchmarks/acceptance_vs_floor.py --acceptance out/acceptance [more ...] \
        --floor out/motion-floor [more ...] --out out/acceptance_vs_floor
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

# the targets: (check, lowest / highest allowed value); tremor is a relative deviation, |x| <= 0.10
TARGETS = {
    "r_x": (0.90, None),
    "r_y": (0.95, None),
    "r_cca": (0.97, None),
    "blink_precision": (0.95, None),
    "blink_recall": (0.95, None),
    "tremor_deviation": (-0.10, 0.10),
}
UNCHANGED = "rewritten"


def meets(check: str, value: float) -> bool:
    lo, hi = TARGETS[check]
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def verdict(check: str, output: float, copies: dict[str, float]) -> str:
    """met / floor / spread / gap (see the module docstring); "n/a" where a value is missing."""
    if output is None or not math.isfinite(output):
        return "n/a"
    if meets(check, output):
        return "met"
    unchanged = copies.get(UNCHANGED)
    if unchanged is not None and math.isfinite(unchanged) and not meets(check, unchanged):
        return "floor"
    values = [v for v in copies.values() if v is not None and math.isfinite(v)]
    if values and min(values) <= output <= max(values):
        return "spread"
    return "gap"


def _load(paths: list[str]) -> dict:
    out = {}
    for p in paths:
        p = Path(p)
        out.update(json.loads((p / "summary.json" if p.is_dir() else p).read_text()))
    return out


def compare(acceptance: dict, floor: dict) -> dict:
    """{clip: {check: {output, unchanged, copies_min, copies_max, verdict}}} over the clips in both."""
    rows = {}
    for clip in sorted(set(acceptance) & set(floor)):
        out_row, copies = acceptance[clip], floor[clip]
        has_blinks = (out_row.get("blinks_original") or 0) > 0
        row = {}
        for check in TARGETS:
            if check.startswith("blink") and not has_blinks:
                continue
            values = {name: c.get(check) for name, c in copies.items()}
            finite = [v for v in values.values() if v is not None and math.isfinite(v)]
            row[check] = {"output": out_row.get(check), "unchanged": values.get(UNCHANGED),
                          "copies_min": min(finite) if finite else None, "copies_max": max(finite) if finite else None,
                          "verdict": verdict(check, out_row.get(check), values)}
        rows[clip] = row
    return rows


def _fmt(check: str, v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{100 * v:+.0f}%" if check == "tremor_deviation" else f"{v:.3f}"


def _label(clip: str) -> str:
    """A short tick label: the file name, with its folder where the name alone is a number (video-retalking/1)."""
    parts = clip.removesuffix(".mp4").split("/")
    name = parts[-1][:12]
    return f"{parts[-2][:8]}/{name}" if name.isdigit() and len(parts) > 1 else name


def plot(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = list(rows)
    fig, axes = plt.subplots(len(TARGETS), 1, figsize=(max(8, 0.6 * len(clips)), 2.2 * len(TARGETS)), sharex=True)
    colours = {"met": "tab:green", "floor": "tab:grey", "spread": "tab:blue", "gap": "tab:red", "n/a": "white"}
    for ax, check in zip(axes, TARGETS):
        for i, clip in enumerate(clips):
            c = rows[clip].get(check)
            if c is None:
                continue
            if c["copies_min"] is not None:
                ax.plot([i, i], [c["copies_min"], c["copies_max"]], color="0.6", lw=6, solid_capstyle="butt")
            if c["unchanged"] is not None:
                ax.plot(i, c["unchanged"], "_", color="k", ms=12)
            if c["output"] is not None and math.isfinite(c["output"]):
                ax.plot(i, c["output"], "o", color=colours[c["verdict"]], mec="k")
        for bound in TARGETS[check]:
            if bound is not None:
                ax.axhline(bound, color="tab:red", ls="--", lw=1)
        ax.set_ylabel(check, fontsize=8)
    axes[-1].set_xticks(range(len(clips)), [_label(c) for c in clips], rotation=60, fontsize=7)
    axes[0].set_title("output (dot: green met, grey floor, blue inside the copies' spread, red gap); "
                      "bar: imperceptible copies; tick: unchanged copy; dashed: target", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--acceptance", nargs="+", required=True, help="deid_acceptance.py output folders or summaries")
    ap.add_argument("--floor", nargs="+", required=True, help="motion_floor.py output folders or summaries")
    ap.add_argument("--out", default="out/acceptance_vs_floor", help="writes OUT.json and OUT.png")
    args = ap.parse_args(argv)
    rows = compare(_load(args.acceptance), _load(args.floor))
    if not rows:
        print("no clip is in both the acceptance and the floor runs")
        return 2
    print(f"{'clip':<36}" + "".join(f"{c[:15]:>26}" for c in TARGETS))
    print(f"{'':<36}" + "".join(f"{'out / unchanged  verdict':>26}" for _ in TARGETS))
    for clip, row in rows.items():
        cells = []
        for check in TARGETS:
            c = row.get(check)
            cells.append("-" if c is None else
                         f"{_fmt(check, c['output'])} / {_fmt(check, c['unchanged'])} {c['verdict']:>6}")
        print(f"{clip:<36}" + "".join(f"{s:>26}" for s in cells))
    print("\nper check: " + "; ".join(
        f"{check} " + ", ".join(f"{v} {sum(r.get(check, {}).get('verdict') == v for r in rows.values())}"
                                for v in ("met", "floor", "spread", "gap"))
        for check in TARGETS))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rows, indent=1))
    tmp.replace(out.with_suffix(".json"))
    plot(rows, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
