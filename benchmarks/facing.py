"""How visible an object's facing is in its own points, whatever the detector: per class, a small classifier learns
from the training split whether an object's points, in its labelled box frame and turned round at random, face
forwards or backwards, and is scored on the validation split.

    python benchmarks/facing.py --config configs/synthetic/cpu.yaml --data-root DATA [--max-frames 2000]

Issue 12 asks for headings "learnable from the points" (Pedestrian AOS >= 0.8 x 2-D AP). A detector's AOS mixes
that with how well the detector learnt it; this separates the two. An object whose front and back look alike
scores 0.5; accuracy a is roughly the AOS / 2-D AP ratio a detector could reach by reading the same cues (a box
turned round adds nothing to AOS). Features: point share and mean intensity per cell of an 8 x 4 x 8 grid over the
box (length x width x height, 10 cm margin), so the classifier sees the shape, not the count: the detector's own
RoI point grid (``ssal.models.roi_point_grid``) on the labelled boxes.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ssal.config import load_config
from ssal.data.datasets import dataset_from_config
from ssal.models.roi_point_grid import roi_point_grid

CLASSES = ("Car", "Pedestrian", "Cyclist")
GRID = (8, 4, 8)
MARGIN = 0.1
POINT_BANDS = ((5, 50), (50, 200), (200, None))


def box_grids(points: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For boxes (K, 7) in a frame's ``points`` (N, 4): (K, 2 * cells) point share and mean intensity per cell of
    ``GRID`` in each box's frame (``MARGIN`` added), and (K,) the number of points in each."""
    batch = np.concatenate((np.zeros((len(points), 1)), points[:, :4]), axis=1)
    grid = roi_point_grid(torch.from_numpy(batch).float(), torch.from_numpy(boxes[None]).float(), GRID, MARGIN)[0]
    return grid[:, :-1].numpy(), torch.expm1(grid[:, -1]).round().long().numpy()


def turned(features: np.ndarray) -> np.ndarray:
    """The grid features of the same box turned round: its cells mirrored along the length and the width."""
    return np.ascontiguousarray(features.reshape(2, *GRID)[:, ::-1, ::-1, :]).ravel()


def objects(reader, infos, min_points: int = 5) -> dict[str, list[tuple[np.ndarray, int]]]:
    """Per class of ``CLASSES``, (grid features, point count) of every labelled object with at least
    ``min_points`` points; each frame's points are read once."""
    found = {cls: [] for cls in CLASSES}
    for info in infos:
        annos = info.annos
        if annos is None or not np.isin(annos.name, CLASSES).any():
            continue
        wanted = np.isin(annos.name, CLASSES)
        features, counts = box_grids(reader.load_points(info), annos.gt_boxes_lidar[wanted])
        for name, grid, count in zip(annos.name[wanted], features, counts):
            if count >= min_points:
                found[name].append((grid, int(count)))
    return found


def facing_accuracy(train: list, val: list, seed: int = 0, epochs: int = 60) -> np.ndarray:
    """(V,) bool: whether a classifier trained on ``train`` objects tells each ``val`` object's facing."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)

    def features(items):
        turn = rng.random(len(items)) < 0.5
        x = np.stack([turned(grid) if t else grid for (grid, _), t in zip(items, turn)]).astype(np.float32)
        return torch.from_numpy(x), torch.from_numpy(turn.astype(np.int64))

    x, y = features(train)
    x_val, y_val = features(val)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, 2))
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 256):
            batch = order[start:start + 256]
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(net(x[batch]), y[batch]).backward()
            optimiser.step()
    with torch.no_grad():
        return (net(x_val).argmax(dim=1) == y_val).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--max-frames", type=int, default=2000, help="frames read from each split")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = load_config(args.config, [f"data.root={args.data_root}"])
    reader = dataset_from_config(config.data)
    train_infos = reader.infos("train")[: args.max_frames]
    val_infos = reader.infos("val")[: args.max_frames]
    print("| class | train objects | val objects | facing told | " +
          " | ".join(f"{lo}-{hi or ''} points" for lo, hi in POINT_BANDS) + " |")
    print("|---|---|---|---|" + "---|" * len(POINT_BANDS))
    train_objects, val_objects = objects(reader, train_infos), objects(reader, val_infos)
    for cls in CLASSES:
        train, val = train_objects[cls], val_objects[cls]
        if not train or not val:
            print(f"| {cls} | {len(train)} | {len(val)} | - |" + " - |" * len(POINT_BANDS))
            continue
        right = facing_accuracy(train, val, args.seed)
        counts = np.array([n for _, n in val])
        bands = []
        for lo, hi in POINT_BANDS:
            band = (counts >= lo) & (counts < (hi or np.inf))
            bands.append(f"{right[band].mean():.2f} ({band.sum()})" if band.any() else "-")
        print(f"| {cls} | {len(train)} | {len(val)} | {right.mean():.3f} | " + " | ".join(bands) + " |")


if __name__ == "__main__":
    main()
