"""Plugin manifests (``plugin.toml``): parse, validate, verify the model checksum.  Runs no plugin code.

A plugin is a folder: ``plugin.toml`` + OpenVINO IR (``model.xml``/``model.bin``) + ``metrics.json`` +
``MODEL_CARD.md``.  The manifest is the single contract read by training and inference alike (see
:mod:`viewer.inference.preprocess` for the ``[input]`` table).  Every problem becomes a :class:`PluginError` whose
message names the folder and the field.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..io._common import sha256_file
from ..errors import PluginError
from .postprocess import validate as validate_postprocess
from .preprocess import InputSpec

KINDS = ("segmentation", "router")
ACTIVATIONS = ("sigmoid", "softmax")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_ID = re.compile(r"^[a-z][a-z0-9_\-]*$")
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class PluginLabel:
    value: int
    name: str
    color: tuple[int, int, int]


@dataclass
class Plugin:
    """One validated plugin folder."""

    id: str
    name: str
    version: str
    kind: str
    description: str
    task_modality: str
    folder: Path
    model_xml: Path
    model_bin: Path
    sha256: str
    input: InputSpec
    activation: str
    threshold: float
    labels: list[PluginLabel] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)  # router only
    router_threshold: float = 0.5  # router only
    reject_class: str = "other"  # router only
    source: str = "builtin"  # builtin | user | entry point <name>
    raw: dict = field(default_factory=dict, repr=False)
    postprocess: dict = field(default_factory=dict)  # [postprocess] options (viewer.inference.postprocess)

    @property
    def provenance(self) -> dict:
        return {"plugin": self.id, "version": self.version, "sha256": self.sha256}

    def metrics(self) -> dict:
        """The recorded metrics (``metrics.json``), or {} when absent."""
        f = self.folder / str(self.raw.get("metrics", {}).get("file", "metrics.json"))
        try:
            return json.loads(f.read_text())
        except (OSError, ValueError):
            return {}

    def summary(self) -> dict:
        m = self.raw.get("metrics", {})
        d = {"id": self.id, "name": self.name, "version": self.version, "kind": self.kind,
             "description": self.description, "modality": self.task_modality, "source": self.source,
             "folder": str(self.folder), "input": [1, self.input.channels, *self.input.size],
             "labels": [{"value": lab.value, "name": lab.name, "color": "#%02x%02x%02x" % lab.color}
                        for lab in self.labels],
             "metric_int8": m.get("primary_int8"), "latency_ms_int8": m.get("latency_ms_int8")}
        if self.raw.get("output", {}).get("tta"):  # test-time views inside the model (information only)
            d["tta"] = list(self.raw["output"]["tta"])
        if self.kind == "router":
            d.update(classes=self.classes, threshold=self.router_threshold)
        return d


def _req(table: dict, key: str, types, where: str, folder: Path):
    if key not in table:
        raise PluginError(f"Plugin {folder}: plugin.toml has no '{key}' in [{where}].", folder)
    v = table[key]
    if not isinstance(v, types) or isinstance(v, bool):
        raise PluginError(f"Plugin {folder}: [{where}] {key} = {v!r} has the wrong type.", folder)
    return v


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached by (path, size, mtime) so rescans stay cheap."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def _color(s: str, folder: Path) -> tuple[int, int, int]:
    if not isinstance(s, str) or not _COLOR.match(s):
        raise PluginError(f"Plugin {folder}: label colour {s!r} is not of the form \"#rrggbb\".", folder)
    return (int(s[1:3], 16), int(s[3:5], 16), int(s[5:7], 16))


def load_manifest(folder, source: str = "builtin", verify: bool = True) -> Plugin:
    """Parse and validate ``folder/plugin.toml``; with ``verify`` check the model files' sha256.  A
    :class:`PluginError` carries the id and version the manifest declares (``plugin_id``, ``plugin_version``; None
    when unreadable), so that a damaged plugin is matched by its id, not by its folder's name."""
    try:
        return _load_manifest(Path(folder), source, verify)
    except PluginError as e:
        e.plugin_id, e.plugin_version = _declared_identity(Path(folder))
        raise


def _declared_identity(folder: Path) -> tuple[str | None, str | None]:
    try:
        p = tomllib.loads((folder / "plugin.toml").read_text(encoding="utf-8")).get("plugin", {})
        pid, version = p.get("id"), p.get("version")
        return (pid if isinstance(pid, str) else None), (None if version is None else str(version))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, AttributeError):
        return None, None


def _load_manifest(folder: Path, source: str, verify: bool) -> Plugin:
    mf = folder / "plugin.toml"
    if not mf.is_file():
        raise PluginError(f"Plugin {folder}: there is no plugin.toml in this folder.", folder)
    try:
        raw = tomllib.loads(mf.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise PluginError(f"Plugin {folder}: plugin.toml is not valid TOML ({e}).", folder) from e
    for t in ("plugin", "model", "input", "output"):
        if not isinstance(raw.get(t), dict):
            raise PluginError(f"Plugin {folder}: plugin.toml has no [{t}] table.", folder)
    p, m, o = raw["plugin"], raw["model"], raw["output"]
    pid = _req(p, "id", str, "plugin", folder)
    if not _ID.match(pid):
        raise PluginError(f"Plugin {folder}: id {pid!r} must be lower-case letters, digits, '_' or '-'.", folder)
    kind = _req(p, "kind", str, "plugin", folder)
    if kind not in KINDS:
        raise PluginError(f"Plugin {folder}: kind {kind!r} is not one of {', '.join(KINDS)}.", folder)
    version = str(_req(p, "version", (str, int, float), "plugin", folder))
    xml = folder / _req(m, "file", str, "model", folder)
    wbin = folder / str(m.get("weights", Path(xml.name).with_suffix(".bin")))
    for f in (xml, wbin):
        if not f.is_file():
            raise PluginError(f"Plugin {pid} ({folder}): the model file {f.name} is missing.", folder)
    sha = _req(m, "sha256", str, "model", folder).lower()
    if not _HEX64.match(sha):
        raise PluginError(f"Plugin {pid} ({folder}): [model] sha256 is not a 64-digit hex checksum.", folder)
    if verify:
        got = file_sha256(wbin)
        if got != sha:
            raise PluginError(f"Plugin {pid} ({folder}): {wbin.name} does not match the sha256 in plugin.toml "
                              f"(damaged or replaced file); reinstall the plugin.", folder)
        xsha = m.get("xml_sha256")
        if isinstance(xsha, str) and _HEX64.match(xsha.lower()) and file_sha256(xml) != xsha.lower():
            raise PluginError(f"Plugin {pid} ({folder}): {xml.name} does not match xml_sha256 in plugin.toml "
                              f"(damaged or replaced file); reinstall the plugin.", folder)
    try:
        spec = InputSpec.from_manifest(raw["input"])
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise PluginError(f"Plugin {pid} ({folder}): invalid [input] table ({e}).", folder) from e
    if spec.channels not in (1, 3) or min(spec.size) < 8:
        raise PluginError(f"Plugin {pid} ({folder}): [input] channels must be 1 or 3 and size at least 8x8.", folder)
    act = str(o.get("activation", "sigmoid"))
    if act not in ACTIVATIONS:
        raise PluginError(f"Plugin {pid} ({folder}): [output] activation {act!r} is not one of "
                          f"{', '.join(ACTIVATIONS)}.", folder)
    thr = float(o.get("threshold", 0.5))
    if not 0.0 < thr < 1.0:
        raise PluginError(f"Plugin {pid} ({folder}): [output] threshold must lie between 0 and 1.", folder)
    try:
        post = validate_postprocess(raw.get("postprocess"))
    except ValueError as e:
        raise PluginError(f"Plugin {pid} ({folder}): {e}.", folder) from e
    plugin = Plugin(id=pid, name=str(p.get("name", pid)), version=version, kind=kind,
                    description=str(p.get("description", "")), task_modality=str(p.get("task_modality", "")),
                    folder=folder.resolve(), model_xml=xml.resolve(), model_bin=wbin.resolve(), sha256=sha,
                    input=spec, activation=act, threshold=thr, source=source, raw=raw, postprocess=post)
    if kind == "segmentation":
        labels = raw.get("labels")
        if not isinstance(labels, list) or not labels:
            raise PluginError(f"Plugin {pid} ({folder}): a segmentation plugin needs at least one [[labels]].", folder)
        seen = set()
        for lab in labels:
            v = _req(lab, "value", int, "labels", folder)
            if not 1 <= v <= 255 or v in seen:
                raise PluginError(f"Plugin {pid} ({folder}): label values must be distinct, 1..255 (got {v}).", folder)
            seen.add(v)
            plugin.labels.append(PluginLabel(v, str(lab.get("name", f"Label {v}")), _color(lab.get("color", "#ff0000"), folder)))
    else:
        r = raw.get("router")
        if not isinstance(r, dict):
            raise PluginError(f"Plugin {pid} ({folder}): a router plugin needs a [router] table.", folder)
        classes = _req(r, "classes", list, "router", folder)
        if len(classes) < 2 or not all(isinstance(c, str) for c in classes):
            raise PluginError(f"Plugin {pid} ({folder}): [router] classes must list at least two task ids.", folder)
        plugin.classes = list(classes)
        plugin.router_threshold = float(r.get("threshold", 0.5))
        plugin.reject_class = str(r.get("reject_class", "other"))
    return plugin
