#!/bin/sh
# Segmentation hand-off in one command (doc/finetune.md): makes (once) a
# virtual environment with torch, monai, safetensors and nibabel from PyPI
# (about 5 GB with torch's CUDA wheels; never needed by the build or make
# check), then runs tools/finetune_unetr.py: MONAI's UNETR fine-tuned from
# RUN's encoder and from a random one on DATA's -seg files, with the
# validation Dice of both. Usage:
#   tools/finetune-unetr.sh RUN DATA [finetune_unetr.py options]
# RUN must have 12 layers (UNETR reads hidden states 3, 6 and 9): pretrain
# with --layers 12, or --preset small or base. EMIM_MONAI_VENV names the
# environment's folder [.venv-monai, shared with tools/check-monai.sh];
# EMIM names the tool [./emim in the build folder, else emim on the PATH].
set -e
[ $# -ge 2 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
venv=${EMIM_MONAI_VENV:-.venv-monai}
run=$1 data=$2
shift 2
if [ -z "${EMIM:-}" ]; then
  if [ -x ./emim ]; then EMIM=./emim; else EMIM=emim; fi
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch monai safetensors nibabel einops numpy
fi
exec "$venv/bin/python" "$here/finetune_unetr.py" --emim "$EMIM" --run "$run" --data "$data" "$@"
