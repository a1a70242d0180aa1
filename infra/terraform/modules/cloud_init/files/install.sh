#!/bin/bash
# Install Bunri's code for this node into /opt/bunri/venv: the source repository at a branch or tag,
# the workspace members this role runs, and every dependency at the version constraints.txt pins.
# The first-boot bootstrap runs it; `bunri-install REF` upgrades in place (then restart the units).
set -euo pipefail
set -a
# shellcheck disable=SC1091
. /etc/bunri/node.env
set +a
ref="${1:-$NODE_SOURCE_REF}"
src=/opt/bunri/src
if [ -d "$src/.git" ]; then
  git -C "$src" fetch --depth 1 origin "$ref"
  git -C "$src" checkout --force FETCH_HEAD
else
  git clone --depth 1 --branch "$ref" "$NODE_SOURCE_REPOSITORY" "$src"
fi
python3 -m venv /opt/bunri/venv
/opt/bunri/venv/bin/pip install -q --upgrade pip
members=()
for member in $NODE_MEMBERS; do members+=("$src/$member"); done
# PIP_EXTRA_INDEX_URL (node.env) adds PyTorch's CPU wheel index on AI nodes: constraints.txt pins
# the +cpu build, which is not on PyPI, and the CUDA build would not fit a t3.small's disk.
/opt/bunri/venv/bin/pip install -q -c "$src/constraints.txt" "${members[@]}"
