"""``medroute segment`` and ``medroute models``.  Thin: parse, call the core, print."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import MedRouteError, PluginError


def _cmd_segment(args) -> int:
    from ..io import open_study, save_labels
    from .engine import get_engine
    from .pipeline import run, study_extent_mm, study_input
    from .registry import default_registry

    out = Path(args.out)
    if not out.name.lower().endswith((".nii.gz", ".nii", ".png", ".nrrd", ".mha")):
        raise MedRouteError(f"{out.name}: the output must end in .nii.gz, .nii, .png, .nrrd or .mha.")
    study = open_study(args.path, volume=args.volume)
    voxels, notes = study_input(study)
    if study.metadata.get("volumes_as_channels"):
        notes = [n + " Choose another volume with --volume N." for n in notes]
    engine = get_engine(args.device)
    if not args.json:
        for msg in ([engine.message] if engine.message else []) + notes:
            sys.stderr.write(msg + "\n")
    res = run(voxels, task=args.task, registry=default_registry(), engine=engine, name=study.name,
              extent_mm=study_extent_mm(study))
    save_labels(res.labels, study, out)
    skipped = default_registry().damaged_newer(res.plugin.id)
    if skipped:
        notes.append(skipped)
        if not args.json:
            sys.stderr.write(skipped + "\n")
    info = {
        "path": str(args.path), "out": str(out), "task": res.plugin.id, "plugin_version": res.plugin.version,
        "routing": res.routing.to_dict() if res.routing else None, "device": res.device,
        "device_message": engine.message, "shape": list(study.shape),
        "labels": res.label_stats(study.geometry.spacing, study.size_in_mm_known),
        "timings_s": res.timings, "notes": notes,
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{study.name}: {res.routing.describe() if res.routing else res.plugin.id}")
        for name, s in info["labels"].items():
            size = f"{s['ml']:>10.3f} mL" if s["ml"] is not None else "  (no pixel size in mm in this file: no volume)"
            print(f"  {name:<24}{s['voxels']:>10} pixels  {size}" if study.is_2d else
                  f"  {name:<24}{s['voxels']:>10} voxels  {size}")
        stages = "  ".join(f"{k} {v * 1000:.0f} ms" for k, v in res.timings.items())
        print(f"  {stages}")
        print(f"Labels written to {out}")
    return 0


def _check_dir(path: str) -> dict:
    """Validate one plugin folder (or a folder of plugins) and run each model once on zeros."""
    import numpy as np

    from .engine import get_engine
    from .manifest import load_manifest
    from .registry import _plugin_folders

    root = Path(path)
    folders = _plugin_folders(root)
    if not folders:
        raise PluginError(f"{root}: no plugin.toml here or in its sub-folders.", root)
    report = {"checked": [], "problems": []}
    eng = get_engine("CPU")
    for f in folders:
        try:
            p = load_manifest(f, source="check")
            x = np.zeros((1, p.input.channels, *p.input.size), np.float32)
            y = np.asarray(eng.infer(p, x))
            if p.kind == "router" and y.size != len(p.classes):
                raise PluginError(f"Plugin {p.id} ({f}): the model gives {y.size} scores for {len(p.classes)} classes.", f)
            if p.kind == "segmentation" and tuple(y.shape[-2:]) != tuple(p.input.size):
                raise PluginError(f"Plugin {p.id} ({f}): the model output {tuple(y.shape)} does not match the input "
                                  f"size {tuple(p.input.size)}.", f)
            report["checked"].append({**p.summary(), "ok": True, "output": list(y.shape)})
        except MedRouteError as e:
            report["problems"].append({"folder": str(f), "error": str(e)})
    return report


def _cmd_models(args) -> int:
    from .engine import device_names
    from .registry import default_registry

    if args.check:
        rep = _check_dir(args.check)
        if args.json:
            print(json.dumps(rep, indent=2))
        else:
            for p in rep["checked"]:
                print(f"ok       {p['id']} {p['version']} ({p['kind']}) in {p['folder']}")
            for p in rep["problems"]:
                print(f"PROBLEM  {p['error']}")
        if rep["problems"]:
            raise PluginError(f"{len(rep['problems'])} plugin(s) in {args.check} failed the check: "
                              + rep["problems"][0]["error"])
        return 0
    reg = default_registry()
    info = {
        "tasks": [p.summary() for p in sorted(reg.tasks, key=lambda p: p.id)],
        "router": reg.router.summary() if reg.router else None,
        "devices": device_names(),
        "problems": [str(e) for e in reg.problems],
        "shadowed": [f"{p.id} {p.version} ({p.source}: {p.folder})" for p in reg.shadowed],
        "search_path": reg.search_path,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print("Task plugins:")
    for p in info["tasks"]:
        m = f"  Dice {p['metric_int8']}" if p["metric_int8"] is not None else ""
        print(f"  {p['id']:<12}{p['version']:<8}{p['name']}{m}  [{p['source']}]")
    if not info["tasks"]:
        print("  (none installed)")
    r = info["router"]
    print("Router: " + (f"{r['id']} {r['version']} -> {', '.join(r['classes'])} (threshold {r['threshold']})"
                        if r else "none installed (choose tasks with --task)"))
    print("OpenVINO devices: " + (", ".join(f"{d['device']} ({d['name']})" for d in info["devices"]) or "none"))
    for e in info["problems"]:
        print(f"Problem: {e}")
    print("Search path: " + "; ".join(info["search_path"]))
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("segment", help="segment a study with the routed (or chosen) INT8 task model")
    p.add_argument("path", help="study: image, NIfTI, DICOM file or series folder")
    p.add_argument("--out", required=True, help="label file to write (.nii.gz, .png for 2-D, .nrrd, .mha)")
    p.add_argument("--task", default="auto", help="auto (router decides) or a task id, see `medroute models`")
    p.add_argument("--volume", type=int, help="4D NIfTI: the volume (time point) to segment, from 0 (default: the "
                                              "first, with a note)")
    p.add_argument("--device", default="CPU", help="CPU, GPU or AUTO (falls back to CPU when absent)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_segment)

    m = sub.add_parser("models", help="installed task plugins, the router and OpenVINO devices")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    m.add_argument("--check", metavar="DIR", help="validate a plugin folder (checksums, manifest, a test run)")
    m.set_defaults(func=_cmd_models)
