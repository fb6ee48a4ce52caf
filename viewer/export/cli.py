"""``medroute export``: saved sessions or image/label pairs -> nnU-Net v2 / MSD dataset (+ DICOM SEG); plugin
install and rollback.  Thin: parses, calls :mod:`viewer.export`, prints."""

from __future__ import annotations

import json
from pathlib import Path

from .deid import ExportError


def export_sessions(sessions, out, task, fmt="nnunet", dicom_seg_dir=None, **kw):
    """Export saved sessions; a DICOM study also gets a DICOM SEG (outside the dataset) when ``dicom_seg_dir``."""
    from .cases import case_from_session_file

    return export_with_segs([case_from_session_file(p) for p in sessions], out, task, fmt, dicom_seg_dir, **kw)


def export_with_segs(cases, out, task, fmt="nnunet", seg_dir=None, **kw):
    """:func:`export_cases`, then a DICOM SEG per case that can have one into ``seg_dir``.  Everything that can be
    checked without writing (where the SEGs go, which cases can have one) is checked before the dataset is touched;
    cases that cannot have a SEG are named in ``report.notes``."""
    from .dataset import LAYOUTS, export_cases, resolve_dataset_dir
    from .dicom_seg import seg_problem

    skipped = []
    if seg_dir:
        target = resolve_dataset_dir(out, LAYOUTS[fmt](), task, kw.get("dataset_id"), kw.get("name")).resolve()
        where = Path(seg_dir).expanduser().resolve()
        if where == target or target in where.parents:
            raise ExportError(f"The DICOM SEG folder {where} is inside the training dataset {target}: a SEG carries "
                              "the patient's name and ID, so keep it outside (choose another --dicom-seg folder).")
        skipped = [(c, seg_problem(c.study, c.labels)) for c in cases]
        skipped = [(c, why) for c, why in skipped if why]
    rep = export_cases(cases, out, task, fmt, **kw)
    if seg_dir:
        rep.notes += [f"no DICOM SEG for {c.study.name}: {why}" for c, why in skipped]
        rep.dicom_seg = write_segs([c for c in cases if all(c is not s for s, _ in skipped)], rep, seg_dir)
    return rep


def write_segs(cases, rep, seg_dir) -> list[Path]:
    """A DICOM SEG per case into ``seg_dir``, named by the case's pseudonym.  The dataset is already written, so a
    SEG that fails does not stop the others; the failures are raised together at the end."""
    from .deid import Pseudonymizer
    from .dicom_seg import write_dicom_seg

    pseudo = Pseudonymizer(rep.key_file)
    out, failed = [], []
    for c in cases:
        if not str(c.study.format).upper().startswith("DICOM"):
            continue
        models = c.provenance.get("source_models") or []
        try:
            out.append(write_dicom_seg(c.study, c.labels, Path(seg_dir) / f"{pseudo.case_id(c.source_key)}_seg.dcm",
                                       c.label_names, models[0] if models else None))
        except ExportError as e:
            failed.append(f"{c.study.name}: {e}")
    if failed:
        raise ExportError(f"The dataset {rep.dataset} was written, but {len(failed)} DICOM SEG(s) failed: "
                          + "; ".join(failed) + (f" ({len(out)} written)." if out else "."))
    return out


def _cmd_export(args) -> int:
    if args.install_plugin:
        from .install import install_plugin

        r = install_plugin(args.install_plugin, args.plugin_dir, force=args.force)
        print(f"installed {r.id} {r.version} into {r.folder} (previous: {r.previous or 'none'}; {r.verdict})")
        return 0
    if args.rollback:
        from .install import rollback

        r = rollback(args.rollback, args.plugin_dir, args.version)
        print(f"{r.id}: now {r.version} (was {r.previous})")
        return 0
    if args.validate:
        from .validate import validate_dataset

        problems = validate_dataset(args.validate)
        for p in problems:
            print(p)
        if problems:
            raise ExportError(f"{args.validate} is not a valid dataset ({len(problems)} problem(s) listed above).")
        print(f"{args.validate}: valid")
        return 0
    if not args.out or not args.task:
        raise ExportError("medroute export needs --task and --out (and SESSION files or --images/--labels).")
    kw = dict(dataset_id=args.dataset_id, name=args.name, overwrite=args.overwrite, key_file=args.key_file)
    try:
        if args.images or args.labels:
            if not (args.images and args.labels):
                raise ExportError("--images and --labels go together (two folders with matching file names).")
            from .cases import case_from_files, pair_files

            cases = [case_from_files(i, lab, args.group_pattern) for i, lab in pair_files(args.images, args.labels)]
            rep = export_with_segs(cases, args.out, args.task, args.format, args.dicom_seg, **kw)
        elif args.sessions:
            rep = export_sessions(args.sessions, args.out, args.task, args.format, args.dicom_seg, **kw)
        else:
            raise ExportError("Nothing to export: give saved session files (.mrsession) or --images DIR --labels DIR.")
    except ExportError as e:
        from .dataset import OVERWRITE_HINT

        if OVERWRITE_HINT not in str(e):
            raise
        raise ExportError(str(e).replace(OVERWRITE_HINT, f"{OVERWRITE_HINT} (--overwrite)")) from e
    if args.json:
        print(json.dumps(rep.to_dict(), indent=1))
    else:
        print(f"{rep.dataset}: {len(rep.added)} case(s) added, {len(rep.replaced)} replaced, numTraining "
              f"{rep.num_training}; pseudonym key file (keep it private): {rep.key_file}")
        for p in rep.dicom_seg:
            print(f"DICOM SEG: {p}")
        for n in rep.notes:
            print(f"note: {n}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("export", help="corrected labels -> nnU-Net v2 / MSD dataset, DICOM SEG; plugin install")
    p.add_argument("sessions", nargs="*", help="saved sessions (.mrsession) to export")
    p.add_argument("--images", help="folder of images (paired by name with --labels)")
    p.add_argument("--labels", help="folder of label files on the images' grids")
    p.add_argument("--task", help="task id the labels are for (brain_mri, nuclei, polyp, ...)")
    p.add_argument("--format", default="nnunet", choices=("nnunet", "msd"))
    p.add_argument("--out", help="nnUNet_raw-style parent folder, or the DatasetNNN_Name / TaskNN_Name folder itself")
    p.add_argument("--dataset-id", type=int, help="NNN of DatasetNNN_Name (nnU-Net) or NN of TaskNN_Name (MSD)")
    p.add_argument("--name", help="the Name part of the dataset folder (default: from the task)")
    p.add_argument("--overwrite", action="store_true", help="replace cases that are already in the dataset")
    p.add_argument("--key-file", help="pseudonym key file, kept OUTSIDE the dataset "
                                      "(default ~/.local/share/medroute/export_keys/<dataset>.json)")
    p.add_argument("--group-pattern", help="regex on the image file name whose first group is the patient "
                                           "(the split unit), e.g. '(.*)_\\d+\\.png$'")
    p.add_argument("--dicom-seg", metavar="DIR", help="also write a DICOM SEG per DICOM study into DIR (for PACS; "
                                                      "it carries the patient identity, keep it out of the dataset)")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--validate", metavar="DATASET", help="only check a dataset against nnU-Net / MSD layout rules")
    p.add_argument("--install-plugin", metavar="PLUGIN_DIR",
                   help="install a plugin version (from medroute quantize) into the user plugin folder")
    p.add_argument("--rollback", metavar="ID", help="make the previous installed version of plugin ID active again")
    p.add_argument("--version", dest="version", help="with --rollback: the version to go back to")
    p.add_argument("--plugin-dir", help="user plugin folder (default $MEDROUTE_PLUGIN_DIR or ~/.local/share/medroute/plugins)")
    p.add_argument("--force", action="store_true", help="install even when the new version is not better")
    p.set_defaults(func=_cmd_export)
