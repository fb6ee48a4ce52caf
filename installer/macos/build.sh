#!/usr/bin/env bash
# Build "MedRoute Viewer.app" (PyInstaller BUNDLE, see installer/medroute.spec) and a compressed .dmg.
#   bash installer/macos/build.sh
# Needs: macOS 12+, Python 3.10+ (the arm64 or x86_64 build you want to ship), Xcode command-line tools.
# Optional: CODESIGN_IDENTITY="Developer ID Application: ..." to sign (hardened runtime), then notarise with
#   xcrun notarytool submit dist/MedRouteViewer-<v>.dmg --keychain-profile <profile> --wait && xcrun stapler staple ...
# Untested on the Linux development machine (see installer/README.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${MEDROUTE_VENV:-$ROOT/.venv}"
cd "$ROOT"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT"          # run-time dependencies only: no torch
fi
PY="$VENV/bin/python"
"$PY" -c "import PyInstaller" 2>/dev/null || "$PY" -m pip install -q "pyinstaller>=6.10"
# Icon: resources/icons/app.svg -> installer/medroute.icns (once)
if [ ! -f installer/medroute.icns ]; then
  tmp="$(mktemp -d)/medroute.iconset"; mkdir -p "$tmp"
  for s in 16 32 64 128 256 512; do
    "$PY" - "$s" "$tmp/icon_${s}x${s}.png" <<'PYEOF'
import sys
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
app = QGuiApplication(["x", "-platform", "offscreen"])
s = int(sys.argv[1]); img = QImage(s, s, QImage.Format_ARGB32); img.fill(0)
p = QPainter(img); QSvgRenderer("resources/icons/app.svg").render(p); p.end(); img.save(sys.argv[2])
PYEOF
  done
  iconutil -c icns "$tmp" -o installer/medroute.icns
fi
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller installer/medroute.spec
APP="dist/MedRoute Viewer.app"
"$APP/Contents/MacOS/medroute" --version
if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --deep --force --options runtime --timestamp --sign "$CODESIGN_IDENTITY" "$APP"
fi
VERSION="$("$PY" -c 'import viewer; print(viewer.__version__)')"
hdiutil create -volname "MedRoute Viewer" -srcfolder "$APP" -ov -format UDZO "dist/MedRouteViewer-$VERSION.dmg"
echo "app: $APP   disk image: dist/MedRouteViewer-$VERSION.dmg"
