"""The budget ledger: which dataset, which pool, who is labelled, and every round that bought frames.

A ``Ledger`` holds the dataset's identity (format, split, class list and a root-independent fingerprint of the
pool's frame ids), the pool (the train split's frame ids), and the rounds in order: round 0 is the random initial
set, each later round one query. A round records its strategy, seed, budget and unit, the frames bought in order,
the boxes of each class that each bought frame turned out to hold, the strategy's score of each chosen frame and
timestamps. The labelled set and the unlabelled pool are derived from the rounds, never stored twice.

The denominator (all boxes of the configured classes in the pool) is counted once at ``init`` in simulation, so
that "2 %" is exact; it is ``None`` with a human annotator until someone supplies it.

A round is *pending* between a query that wrote its ranking for people to annotate and ``import-labels``; its
frames are neither labelled nor unlabelled, and no new round starts until it is complete.

Strategies never receive the ledger, only ``view()``: labelled frames' ids and boxes, unlabelled frames' ids.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Mapping, Sequence

from ssal.active.budget import Budget
from ssal.atomic import atomic_write_json
from ssal.errors import SsalError
from ssal.json_file import read_json

KIND = "ssal-ledger"
VERSION = 1
Mode = Literal["simulation", "human"]


def pool_fingerprint(frame_ids: Sequence[str]) -> str:
    """A hash of the sorted frame ids: the same pool gives the same value wherever the dataset lives."""
    return hashlib.sha256("\n".join(sorted(frame_ids)).encode()).hexdigest()[:16]


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class DatasetIdentity:
    """What a ledger belongs to. Two datasets match when format, class list (in order: class ids depend on it)
    and pool fingerprint agree; the split name and the root do not matter."""

    format: str
    split: str
    classes: tuple[str, ...]
    pool_fingerprint: str
    num_frames: int

    @classmethod
    def of(cls, format: str, split: str, classes: Sequence[str], pool: Sequence[str]) -> DatasetIdentity:
        return cls(format, split, tuple(classes), pool_fingerprint(pool), len(pool))

    def to_dict(self) -> dict:
        return {"format": self.format, "split": self.split, "classes": list(self.classes),
                "pool_fingerprint": self.pool_fingerprint, "num_frames": self.num_frames}

    @classmethod
    def from_dict(cls, value: dict) -> DatasetIdentity:
        return cls(value["format"], value["split"], tuple(value["classes"]), value["pool_fingerprint"],
                   int(value["num_frames"]))


@dataclass
class Round:
    """One purchase. ``boxes[i]`` holds the per-class box counts of ``frames[i]`` (None while pending);
    ``expected_costs`` what the strategy predicted each frame would cost (for rounds bought without an oracle);
    ``scores`` the strategy's value of each chosen frame (None where it has none)."""

    index: int
    kind: Literal["initial", "query"]
    strategy: str
    seed: int | None
    budget: Budget
    overshoot: str
    frames: list[str]
    boxes: list[list[int]] | None
    scores: list[float | None] = field(default_factory=list)
    expected_costs: list[float] | None = None
    status: Literal["complete", "pending"] = "complete"
    created: str = field(default_factory=now)
    completed: str | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.status == "complete" and self.completed is None:
            self.completed = self.created  # bought from an oracle: labelled when bought

    @property
    def is_pending(self) -> bool:
        return self.status == "pending"

    def frame_costs(self, unit: str | None = None) -> list[int]:
        """Cost of each bought frame in ``unit`` (default: the round's)."""
        unit = unit or self.budget.unit
        if self.boxes is None:
            raise SsalError(f"round {self.index} is waiting for labels: its costs are not known yet", "ledger")
        return [1 if unit == "frames" else sum(b) for b in self.boxes]

    def boxes_per_class(self, classes: Sequence[str]) -> dict[str, int]:
        totals = [0] * len(classes)
        for counts in self.boxes or []:
            totals = [t + c for t, c in zip(totals, counts)]
        return dict(zip(classes, totals))

    def to_dict(self, classes: Sequence[str]) -> dict:
        spent = None if self.boxes is None else {"boxes": sum(self.frame_costs("boxes")), "frames": len(self.frames)}
        return {
            "index": self.index, "kind": self.kind, "strategy": self.strategy, "seed": self.seed,
            "budget": self.budget.to_dict(), "overshoot": self.overshoot, "status": self.status,
            "spent": spent, "boxes_per_class": None if self.boxes is None else self.boxes_per_class(classes),
            "frames": list(self.frames), "boxes": self.boxes, "scores": list(self.scores),
            "expected_costs": self.expected_costs, "created": self.created, "completed": self.completed,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, value: dict) -> Round:
        return cls(index=int(value["index"]), kind=value["kind"], strategy=value["strategy"], seed=value["seed"],
                   budget=Budget.from_dict(value["budget"]), overshoot=value["overshoot"],
                   frames=list(value["frames"]), boxes=value["boxes"], scores=list(value.get("scores") or []),
                   expected_costs=value.get("expected_costs"), status=value.get("status", "complete"),
                   created=value.get("created", ""), completed=value.get("completed"),
                   notes=list(value.get("notes") or []))


@dataclass(frozen=True)
class LedgerView:
    """What a strategy may know about the labelling state: the labelled frames with their per-class box counts,
    and the ids of the unlabelled frames. Nothing about the labels of unlabelled frames is reachable from here."""

    classes: tuple[str, ...]
    labelled: tuple[str, ...]
    unlabelled: tuple[str, ...]
    labelled_boxes: Mapping[str, tuple[int, ...]]
    next_round: int


class Ledger:
    """The labelling state of one pool. Build with ``Ledger.create`` (then add round 0) or ``Ledger.load``."""

    def __init__(self, identity: DatasetIdentity, pool: Sequence[str], mode: Mode = "simulation",
                 denominator: dict | None = None, rounds: Sequence[Round] = (), path: str | None = None):
        self.identity = identity
        self.pool = list(pool)
        self.mode = mode
        self.denominator = denominator
        self.rounds: list[Round] = []
        self.path = path
        for item in rounds:
            self.add_round(item)

    @classmethod
    def create(cls, format: str, split: str, classes: Sequence[str], pool: Sequence[str], mode: Mode = "simulation",
               denominator: Mapping[str, int] | None = None) -> Ledger:
        """An empty ledger for ``pool``; ``denominator``: the pool's boxes per class (simulation)."""
        if len(set(pool)) != len(pool):
            raise SsalError("the pool lists a frame id twice", "pool")
        if not pool:
            raise SsalError("the pool is empty", "pool")
        denom = None
        if denominator is not None:
            per_class = {c: int(denominator.get(c, 0)) for c in classes}
            denom = {"boxes": sum(per_class.values()), "frames": len(pool), "per_class": per_class}
        return cls(DatasetIdentity.of(format, split, classes, pool), pool, mode, denom)

    # ------------------------------------------------------------------------------------------ derived state
    @property
    def classes(self) -> tuple[str, ...]:
        return self.identity.classes

    @property
    def labelled(self) -> list[str]:
        """Frames of complete rounds, in the order they were bought."""
        return [f for r in self.rounds if not r.is_pending for f in r.frames]

    @property
    def pending(self) -> Round | None:
        return next((r for r in self.rounds if r.is_pending), None)

    @property
    def unlabelled(self) -> list[str]:
        """Pool frames neither labelled nor waiting for labels, in pool order."""
        taken = {f for r in self.rounds for f in r.frames}
        return [f for f in self.pool if f not in taken]

    def labelled_boxes(self) -> dict[str, tuple[int, ...]]:
        return {f: tuple(b) for r in self.rounds if not r.is_pending for f, b in zip(r.frames, r.boxes)}

    def spent(self) -> dict:
        """Cumulative spend of the complete rounds: boxes, frames and boxes per class."""
        per_class = {c: 0 for c in self.classes}
        frames = 0
        for r in self.rounds:
            if r.is_pending:
                continue
            frames += len(r.frames)
            for c, n in r.boxes_per_class(self.classes).items():
                per_class[c] += n
        return {"boxes": sum(per_class.values()), "frames": frames, "per_class": per_class}

    def fraction(self) -> dict | None:
        """Labelled share of the pool's boxes and frames, or None without a denominator."""
        if self.denominator is None:
            return None
        spent = self.spent()
        boxes = self.denominator["boxes"]
        return {"boxes": spent["boxes"] / boxes if boxes else 0.0,
                "frames": spent["frames"] / self.denominator["frames"]}

    def view(self) -> LedgerView:
        """The read-only view strategies receive."""
        self._require_no_pending("rank the pool")
        return LedgerView(self.classes, tuple(self.labelled), tuple(self.unlabelled),
                          MappingProxyType(self.labelled_boxes()), len(self.rounds))

    # ------------------------------------------------------------------------------------------------ changes
    def add_round(self, item: Round) -> Round:
        """Append ``item`` (its index must be the next one; its frames unlabelled pool frames)."""
        if item.index != len(self.rounds):
            raise SsalError(f"round index {item.index} does not follow round {len(self.rounds) - 1}", self._where)
        if (item.kind == "initial") != (item.index == 0):
            raise SsalError("round 0 is the initial set and only round 0", self._where)
        self._require_no_pending("add a round")
        available = set(self.unlabelled)
        bad = [f for f in item.frames if f not in available]
        if bad or len(set(item.frames)) != len(item.frames):
            raise SsalError(f"round {item.index} buys frames that are not in the unlabelled pool or twice: "
                            f"{', '.join(bad[:5]) or 'a repeated frame'}", self._where)
        _check_boxes(item, len(self.classes), self._where)
        self.rounds.append(item)
        return item

    def complete_round(self, index: int, boxes: Sequence[Sequence[int]]) -> Round:
        """Record the labels of pending round ``index``: per-class box counts of each of its frames."""
        item = self.rounds[index]
        if not item.is_pending:
            raise SsalError(f"round {index} is already complete", self._where)
        item.boxes = [list(map(int, b)) for b in boxes]
        item.status = "complete"
        item.completed = now()
        _check_boxes(item, len(self.classes), self._where)
        return item

    def at_round(self, k: int) -> Ledger:
        """The ledger as it was after round ``k`` (a run can continue from there)."""
        if not 0 <= k < len(self.rounds):
            raise SsalError(f"no round {k}: the ledger has rounds 0..{len(self.rounds) - 1}", self._where)
        copy = Ledger(self.identity, self.pool, self.mode, self.denominator, path=self.path)
        for item in self.rounds[: k + 1]:
            copy.rounds.append(Round.from_dict(item.to_dict(self.classes)))
        return copy

    # ---------------------------------------------------------------------------------------------- identity
    def check_dataset(self, identity: DatasetIdentity) -> None:
        """An error naming this ledger's file and what differs when ``identity`` is another dataset."""
        mine = self.identity
        if mine.format != identity.format:
            raise SsalError(f"this ledger is for a {mine.format} dataset, the config reads {identity.format}",
                            self._where)
        if mine.classes != identity.classes:
            raise SsalError(f"this ledger is for classes {list(mine.classes)}, the config has "
                            f"{list(identity.classes)}", self._where)
        if mine.pool_fingerprint != identity.pool_fingerprint:
            raise SsalError(f"this ledger is for another pool: {mine.num_frames} frames (fingerprint "
                            f"{mine.pool_fingerprint}), the dataset's {identity.split} split has "
                            f"{identity.num_frames} (fingerprint {identity.pool_fingerprint})", self._where)

    # --------------------------------------------------------------------------------------------- storage
    def to_dict(self) -> dict:
        """The JSON form; ``spent``, ``fraction`` and each round's ``spent``/``cumulative`` are for readers and
        are recomputed on load."""
        rounds, boxes, frames = [], 0, 0
        for item in self.rounds:
            value = item.to_dict(self.classes)
            if value["spent"] is not None:
                boxes, frames = boxes + value["spent"]["boxes"], frames + value["spent"]["frames"]
            value["cumulative"] = {"boxes": boxes, "frames": frames}
            rounds.append(value)
        return {
            "kind": KIND, "version": VERSION, "dataset": self.identity.to_dict(), "mode": self.mode,
            "denominator": self.denominator, "spent": self.spent(), "fraction": self.fraction(),
            "pool": list(self.pool), "rounds": rounds,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (a reader never sees half a ledger)."""
        atomic_write_json(path, self.to_dict())
        self.path = str(path)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, expect: DatasetIdentity | None = None) -> Ledger:
        """The ledger in ``path``, exactly as saved; with ``expect``, an error if it belongs to another dataset."""
        path = Path(path)
        value = read_json(path, "ledger file not found")
        if not isinstance(value, dict) or value.get("kind") != KIND:
            raise SsalError(f"not an ssal ledger (expected \"kind\": \"{KIND}\")", path)
        if value.get("version") != VERSION:
            raise SsalError(f"ledger version {value.get('version')!r}, this ssal reads version {VERSION}", path)
        try:
            ledger = cls(DatasetIdentity.from_dict(value["dataset"]), value["pool"], value["mode"],
                         value["denominator"], path=str(path))
            for item in value["rounds"]:
                ledger.add_round(Round.from_dict(item))
        except KeyError as error:
            raise SsalError(f"missing key {error.args[0]!r}", path) from None
        except (TypeError, ValueError) as error:
            raise SsalError(f"malformed ledger ({error})", path) from None
        if pool_fingerprint(ledger.pool) != ledger.identity.pool_fingerprint:
            raise SsalError("the pool does not match its fingerprint (edited by hand?)", path)
        if expect is not None:
            ledger.check_dataset(expect)
        return ledger

    # -------------------------------------------------------------------------------------------- internals
    @property
    def _where(self) -> str:
        return self.path or "ledger"

    def _require_no_pending(self, action: str) -> None:
        item = self.pending
        if item is not None:
            raise SsalError(f"round {item.index} is waiting for labels of {len(item.frames)} frames: run "
                            f"`ssal import-labels` before you {action}", self._where)

    def summary(self) -> str:
        """A few lines for people: rounds, spend, share of the pool."""
        lines = [f"{self.identity.format} {self.identity.split} pool: {len(self.pool)} frames, classes "
                 f"{', '.join(self.classes)}, {self.mode} mode"]
        if self.denominator:
            lines.append(f"denominator: {self.denominator['boxes']} boxes "
                         f"({', '.join(f'{c} {n}' for c, n in self.denominator['per_class'].items())})")
        for r in self.rounds:
            if r.is_pending:
                lines.append(f"round {r.index} ({r.kind}, {r.strategy}, budget {r.budget}): {len(r.frames)} "
                             f"frames waiting for labels")
                continue
            per_class = ", ".join(f"{c} {n}" for c, n in r.boxes_per_class(self.classes).items())
            lines.append(f"round {r.index} ({r.kind}, {r.strategy}, seed {r.seed}, budget {r.budget}): "
                         f"{len(r.frames)} frames, {sum(r.frame_costs('boxes'))} boxes ({per_class})")
        spent = self.spent()
        share = self.fraction()
        pct = f" = {100 * share['boxes']:.2f} % of boxes, {100 * share['frames']:.2f} % of frames" if share else ""
        lines.append(f"labelled: {spent['frames']} frames, {spent['boxes']} boxes{pct}")
        return "\n".join(lines)


def _check_boxes(item: Round, num_classes: int, where: str) -> None:
    if item.is_pending:
        if item.boxes is not None:
            raise SsalError(f"pending round {item.index} cannot carry box counts", where)
        return
    if item.boxes is None or len(item.boxes) != len(item.frames):
        raise SsalError(f"round {item.index} needs the box counts of each of its {len(item.frames)} frames", where)
    if any(len(b) != num_classes or min(b, default=0) < 0 for b in item.boxes):
        raise SsalError(f"round {item.index}: box counts must be {num_classes} non-negative numbers per frame",
                        where)
