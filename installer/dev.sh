#!/usr/bin/env bash
# Development entry point: creates the virtual environment on first use (idempotent), then
#   bash installer/dev.sh app [PATH...]   start the viewer (a sample study when no path is given)
#   bash installer/dev.sh test [PYTEST ARGS]  run the architecture check and the test suite
#   bash installer/dev.sh env             only create/refresh the environment
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MEDROUTE_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.medroute-installed"

ensure_env() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[medroute] creating virtual environment in $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  local want
  want="$(cat "$ROOT/pyproject.toml" "$ROOT/installer/dev.sh" | sha256sum | cut -d' ' -f1)"
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    return 0
  fi
  echo "[medroute] installing dependencies (first run or pyproject.toml changed)" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch first and pinned: any other spec pulls the newest build with several GB of CUDA packages.
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  "$VENV/bin/python" -m pip install -q -e "$ROOT[train,cluster,dev]"
  echo "$want" > "$STAMP"
}

cmd="${1:-app}"
shift || true
case "$cmd" in
  env)
    ensure_env ;;
  app)
    ensure_env
    exec "$VENV/bin/medroute" "$@" ;;
  test)
    ensure_env
    cd "$ROOT"
    export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
    echo "[medroute] import contracts (only viewer/ui imports Qt, only viewer/training imports torch)" >&2
    "$VENV/bin/lint-imports" --config "$ROOT/pyproject.toml"
    exec "$VENV/bin/python" -m pytest "$@" ;;
  *)
    echo "usage: bash installer/dev.sh app [PATH...] | test [PYTEST ARGS] | env" >&2
    exit 2 ;;
esac
