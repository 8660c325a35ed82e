"""``ssal data create-infos``: write our info file for every split, so later runs never re-parse raw files."""

from __future__ import annotations

import os
from pathlib import Path

from ssal.data.infos import save_infos


def default_info_dir(dataset) -> Path:
    return Path(dataset.root) / "ssal_infos"


def create_infos(dataset, splits: list[str], out_dir: str | os.PathLike | None = None,
                 progress: bool = True) -> list[Path]:
    """Build infos from the raw files (labels, calibration, points in every box) and save one file per split."""
    out = Path(out_dir) if out_dir else default_info_dir(dataset)
    written = []
    for split in splits:
        infos = dataset.infos(split, progress=progress, use_info_file=False)
        path = out / f"{dataset.name}_infos_{split}.pkl"
        save_infos(path, infos, dataset.name, split)
        written.append(path)
    return written
