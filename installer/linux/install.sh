#!/usr/bin/env bash
# Install the one-folder app for the current user (no root): copies this folder to
# ~/.local/opt/medroute, links ~/.local/bin/medroute, installs the .desktop entry and icon.
#   bash install.sh            install      bash install.sh --uninstall    remove
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${MEDROUTE_PREFIX:-$HOME/.local}"
DEST="$PREFIX/opt/medroute"
APPS="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
ICONS="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$DEST" "$PREFIX/bin/medroute" "$APPS/medroute.desktop" "$ICONS/medroute.svg"
  echo "MedRoute Viewer removed."
  exit 0
fi
mkdir -p "$DEST" "$PREFIX/bin" "$APPS" "$ICONS"
cp -a "$HERE/." "$DEST/"
ln -sf "$DEST/medroute" "$PREFIX/bin/medroute"
cp "$HERE/medroute.svg" "$ICONS/medroute.svg"
sed "s|^Exec=medroute|Exec=$DEST/medroute|; s|^TryExec=medroute|TryExec=$DEST/medroute|" \
  "$HERE/medroute.desktop" > "$APPS/medroute.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$APPS" || true
echo "MedRoute Viewer installed in $DEST; run 'medroute' or open it from the applications menu."
