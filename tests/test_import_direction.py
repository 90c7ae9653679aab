"""Dependency direction: the runtime package loads no heavy toolchain."""

import subprocess
import sys


def test_import_motionmask_loads_no_heavy_runtime():
    code = (
        "import sys, motionmask, motionmask.cli, motionmask.bundle, motionmask.backends, motionmask.video; "
        "heavy = ('torch', 'onnxruntime', 'coremltools', 'ai_edge_litert', 'tensorflow'); "
        "bad = [m for m in heavy if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import motionmask loaded: {out}"
