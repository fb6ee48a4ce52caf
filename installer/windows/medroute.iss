; Inno Setup 6 script: a per-user Windows installer around the PyInstaller one-folder app.
; Built by installer\windows\build.ps1 (which runs PyInstaller first), or by hand:
;   iscc /DAppVersion=0.1.0 /DSourceDir=..\..\dist\medroute installer\windows\medroute.iss
; Not runnable on the Linux development machine: untested here (see installer/README.md).
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\medroute"
#endif

[Setup]
AppId={{6C1B0E64-3F7A-4C53-9E0B-5B1D2F1A7E10}
AppName=MedRoute Viewer
AppVersion={#AppVersion}
AppPublisher=MedRoute Viewer project
DefaultDirName={localappdata}\Programs\MedRoute Viewer
DefaultGroupName=MedRoute Viewer
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=MedRouteViewer-{#AppVersion}-setup
SetupIconFile=..\medroute.ico
UninstallDisplayIcon={app}\medroute.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesAssociations=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "assocnii"; Description: "Open NIfTI files (.nii, .nii.gz) with MedRoute Viewer"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\MedRoute Viewer"; Filename: "{app}\medroute.exe"; IconFilename: "{app}\medroute.exe"
Name: "{group}\Uninstall MedRoute Viewer"; Filename: "{uninstallexe}"
Name: "{autodesktop}\MedRoute Viewer"; Filename: "{app}\medroute.exe"; Tasks: desktopicon

[Registry]
Root: HKA; Subkey: "Software\Classes\.nii\OpenWithProgids"; ValueType: string; ValueName: "MedRoute.Study"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assocnii
Root: HKA; Subkey: "Software\Classes\MedRoute.Study"; ValueType: string; ValueName: ""; ValueData: "Medical image study"; Flags: uninsdeletekey; Tasks: assocnii
Root: HKA; Subkey: "Software\Classes\MedRoute.Study\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\medroute.exe"" ""%1"""; Tasks: assocnii

[Run]
Filename: "{app}\medroute.exe"; Parameters: "--version"; Flags: runhidden; StatusMsg: "Checking the installation..."
Filename: "{app}\medroute.exe"; Description: "Start MedRoute Viewer"; Flags: nowait postinstall skipifsilent
