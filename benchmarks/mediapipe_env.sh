#!/usr/bin/env bash
# Create (idempotently) the separate venv used to produce MediaPipe reference outputs.
# mediapipe 0.10.14 pins protobuf<5, which clashes with the main MotionMask venv,
# so it lives outside the repo. Prints the venv's python path on stdout.
#   Usage: bash benchmarks/mediapipe_env.sh      (override location with MOTIONMASK_MP_VENV)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQ="$HERE/requirements-mediapipe.txt"
VENV="${MOTIONMASK_MP_VENV:-$HOME/.cache/motionmask/venv-mediapipe}"
PY="$VENV/bin/python"
STAMP="$VENV/.motionmask-req.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"

if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] \
   && "$PY" -c "import mediapipe, cv2, numpy" >/dev/null 2>&1; then
  echo "$PY"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
mkdir -p "$(dirname "$VENV")"
[[ -x "$PY" ]] || "$PYTHON" -m venv "$VENV" >&2
"$PY" -m pip install -q --upgrade pip >&2
# --no-deps: the pins are the full closure; mediapipe's jax/jaxlib/sounddevice are not
# used by mp.solutions.face_mesh and are left out on purpose.
"$PY" -m pip install -q --no-deps -r "$REQ" >&2
"$PY" -c "import mediapipe as mp; mp.solutions.face_mesh.FaceMesh(refine_landmarks=True).close()" >/dev/null 2>&1 \
  || { echo "mediapipe import/FaceMesh smoke test failed in $VENV" >&2; exit 1; }
echo "$WANT" > "$STAMP"
echo "$PY"
