#!/usr/bin/env bash
# Offline install of requirements.txt (and of the gymnasium 0.29 venv that runs CleanRL's parent scripts for the
# benchmarks' (b)) on a GPU machine without internet, e.g. a cluster's compute node.
#
# 1. On a Linux machine with internet, fetch wheels for the GPU machine's Python and platform:
#      benchmarks/wheelhouse.sh download [DIR] [PYTHON_VERSION] ["PLATFORM ..."]
#    defaults: wheelhouse 3.12 "manylinux2014_x86_64 manylinux_2_28_x86_64" (pip matches these tags exactly; the CUDA
#    torch wheels are manylinux_2_28). Wheels only (--only-binary=:all:): a package without a wheel for that Python
#    and platform stops the download with its name.
#    NO_TORCH=1 leaves torch out (about 3 GB of CUDA wheels) where the GPU machine has a CUDA torch already.
#    DIR/upstream gets the pins of the gymnasium 0.29 venv (CleanRL fe8d8a03's ppo.py and ppo_atari.py).
# 2. Copy DIR to the GPU machine; there, with the Python that will run the scripts:
#      PYTHON=~/venv/bin/python benchmarks/wheelhouse.sh install [DIR]
#      benchmarks/wheelhouse.sh install-upstream [DIR] [VENV]   # VENV default ~/venv_upstream
#    torch is skipped where that Python's torch already has CUDA (SKIP_TORCH=1 or 0 decides instead). The upstream
#    venv sees the system's packages (--system-site-packages), so a CUDA torch there is used as is.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?usage: benchmarks/wheelhouse.sh download|install|install-upstream [DIR] ...}
dir=$(realpath -m "${2:-wheelhouse}")
python=${PYTHON:-python3}
UPSTREAM="gymnasium==0.29.1 ale-py==0.9.1 opencv-python-headless==4.11.0.86 numpy==1.26.4 tyro==1.0.17
tensorboard==2.21.0 torch==2.13.0"
reqs=$(mktemp)
trap 'rm -f "$reqs"' EXIT

has_cuda_torch() { "$1" -c 'import sys, torch; sys.exit(torch.version.cuda is None)' 2>/dev/null; }
without_torch() { grep -v '^torch==' | sed 's/ *#.*//' | grep -v '^$' || true; }

case $cmd in
  download)
    target=(--only-binary=:all: --python-version "${3:-3.12}" --implementation cp)
    for platform in ${4:-manylinux2014_x86_64 manylinux_2_28_x86_64}; do target+=(--platform "$platform"); done
    if [ "${NO_TORCH:-0}" = 1 ]; then without_torch < requirements.txt > "$reqs"; else cp requirements.txt "$reqs"; fi
    "$python" -m pip download "${target[@]}" -d "$dir" -r "$reqs"
    tr ' ' '\n' <<< "$UPSTREAM" | { if [ "${NO_TORCH:-0}" = 1 ]; then without_torch; else cat; fi; } > "$reqs"
    "$python" -m pip download "${target[@]}" -d "$dir/upstream" -r "$reqs"
    du -sh "$dir" "$dir/upstream"
    ;;
  install)
    skip=${SKIP_TORCH:-$(has_cuda_torch "$python" && echo 1 || echo 0)}
    if [ "$skip" = 1 ]; then without_torch < requirements.txt > "$reqs"; else cp requirements.txt "$reqs"; fi
    echo "installing into $("$python" -c 'import sys; print(sys.prefix)') (torch: $([ "$skip" = 1 ] && echo kept || echo from "$dir"))"
    "$python" -m pip install --no-index --find-links "$dir" -r "$reqs"
    ;;
  install-upstream)
    venv=${3:-$HOME/venv_upstream}
    "$python" -m venv --system-site-packages "$venv"
    skip=${SKIP_TORCH:-$(has_cuda_torch "$venv/bin/python" && echo 1 || echo 0)}
    tr ' ' '\n' <<< "$UPSTREAM" | { if [ "$skip" = 1 ]; then without_torch; else cat; fi; } > "$reqs"
    "$venv/bin/python" -m pip install --no-index --find-links "$dir/upstream" --find-links "$dir" -r "$reqs"
    echo "upstream venv: $venv (benchmarks: --upstream-python $venv/bin/python)"
    ;;
  *) echo "error: unknown command $cmd; use download, install or install-upstream" >&2; exit 1 ;;
esac
