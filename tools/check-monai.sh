#!/bin/sh
# The encoder against MONAI itself, in one command: makes (once) a virtual
# environment with torch, monai, safetensors, nibabel and einops from PyPI
# (about 5 GB with torch's CUDA wheels; a development-time dependency, never
# needed by the build or make check), then runs tools/check_monai.py with
# the emim tool of the build folder. Usage:
#   tools/check-monai.sh [--quick]          (from the build folder)
# EMIM_MONAI_VENV names the environment's folder [.venv-monai]; EMIM names
# the tool [./emim].
set -e
here=$(cd "$(dirname "$0")" && pwd)
venv=${EMIM_MONAI_VENV:-.venv-monai}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch monai safetensors nibabel einops numpy
fi
exec "$venv/bin/python" "$here/check_monai.py" --emim "${EMIM:-./emim}" "$@"
