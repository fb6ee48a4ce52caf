# Build the Windows installer: PyInstaller one-folder app, then Inno Setup.
#   powershell -ExecutionPolicy Bypass -File installer\windows\build.ps1
# Needs: Python 3.10+ (x64), Inno Setup 6 (iscc.exe on PATH or in its default folder), and, for the icon,
# installer\medroute.ico (made from resources\icons\app.svg, e.g. with ImageMagick:
#   magick -background none resources\icons\app.svg -define icon:auto-resize=256,64,48,32,16 installer\medroute.ico).
# Untested on the Linux development machine (see installer/README.md).
$ErrorActionPreference = "Stop"
$Root = Resolve-Path "$PSScriptRoot\..\.."
Set-Location $Root
$Venv = if ($env:MEDROUTE_VENV) { $env:MEDROUTE_VENV } else { "$Root\.venv" }
if (-not (Test-Path "$Venv\Scripts\python.exe")) {
    py -3 -m venv $Venv
    & "$Venv\Scripts\python.exe" -m pip install --upgrade pip
    & "$Venv\Scripts\python.exe" -m pip install -e "$Root"      # run-time dependencies only: no torch
}
$Py = "$Venv\Scripts\python.exe"
& $Py -c "import PyInstaller" 2>$null
if ($LASTEXITCODE -ne 0) { & $Py -m pip install "pyinstaller>=6.10" }
& $Py -m PyInstaller --noconfirm --log-level WARN --distpath "$Root\dist" --workpath "$Root\build\pyinstaller" `
    "$Root\installer\medroute.spec"
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
& "$Root\dist\medroute\medroute.exe" --version
if ($LASTEXITCODE -ne 0) { throw "the built app does not start" }
$Version = (& $Py -c "import viewer; print(viewer.__version__)").Trim()
$Iscc = (Get-Command iscc.exe -ErrorAction SilentlyContinue).Source
if (-not $Iscc) { $Iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
& $Iscc "/DAppVersion=$Version" "/DSourceDir=$Root\dist\medroute" "$Root\installer\windows\medroute.iss"
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
Write-Host "installer: $Root\dist\MedRouteViewer-$Version-setup.exe"
