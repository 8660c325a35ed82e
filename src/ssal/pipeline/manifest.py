"""``RUN/manifest.json``: what each stage of ``ssal run`` did, so that a re-run knows what it may skip.

Per stage: its status (``running`` while it works, ``complete`` or ``failed`` after, recorded in a ``finally``),
the fingerprint of the config keys it depends on, its inputs with their hashes, its seed, its outputs (with
hashes), its metrics, notes (e.g. "round 1 bought nothing", "CAL ran without a partner model") and its wall
time. The top level holds the whole config (so that a refusal can name the key that changed), the config file
and the dataset's identity. Written atomically after every change: a reader sees the old or the new manifest.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ssal.atomic import atomic_write_json
from ssal.errors import SsalError
from ssal.file_hash import file_sha256 as sha256_of_file

__all__ = ["Manifest", "StageRecord", "file_sha256", "json_sha256", "KIND", "VERSION"]

KIND = "ssal-run-manifest"
VERSION = 1
Status = Literal["running", "complete", "failed"]


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def file_sha256(path: str | os.PathLike) -> str:
    """The first 16 hex digits of the file's SHA-256 (what manifests record)."""
    return sha256_of_file(path, digits=16)


def json_sha256(value: Any) -> str:
    """A hash of a JSON-able value, independent of key order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class StageRecord:
    """One stage's entry. ``inputs``/``outputs``: name -> ``{"path": ..., "sha256": ...}`` (paths relative to the
    run folder); ``metrics``: small JSON values a report reads."""

    name: str
    status: Status
    fingerprint: str
    config: dict[str, Any] = field(default_factory=dict)  # the config keys it depends on, as they were
    seed: int | None = None
    inputs: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    started: str = field(default_factory=now)
    finished: str | None = None
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @classmethod
    def from_dict(cls, value: dict) -> StageRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in value.items() if k in known})


class Manifest:
    """The manifest of one run folder. ``Manifest.load`` reads one (errors name the file), ``Manifest.new``
    starts one; ``save`` writes it atomically."""

    def __init__(self, path: str | os.PathLike, config: dict, config_file: str, dataset: dict,
                 plan: list[str], stages: dict[str, StageRecord] | None = None, created: str | None = None):
        self.path = Path(path)
        self.config = config
        self.config_file = config_file
        self.dataset = dataset
        self.plan = list(plan)
        self.stages: dict[str, StageRecord] = dict(stages or {})
        self.created = created or now()
        self.made_by = config_file  # the config file of the run that wrote this manifest (for refusals)

    @classmethod
    def new(cls, path, config: dict, config_file: str, dataset: dict, plan: list[str]) -> Manifest:
        return cls(path, config, config_file, dataset, plan)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Manifest:
        path = Path(path)
        try:
            value = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise SsalError(f"not valid JSON ({error.msg} at line {error.lineno}): the manifest is damaged; "
                            "nothing was overwritten (restore it, or start a new run folder)", path) from None
        if not isinstance(value, dict) or value.get("kind") != KIND:
            raise SsalError(f"not an ssal run manifest (expected \"kind\": \"{KIND}\")", path)
        if value.get("version") != VERSION:
            raise SsalError(f"manifest version {value.get('version')!r}, this ssal reads version {VERSION}", path)
        try:
            stages = {name: StageRecord.from_dict(item) for name, item in value["stages"].items()}
            return cls(path, value["config"], value["config_file"], value["dataset"], value["plan"], stages,
                       value.get("created"))
        except (KeyError, TypeError) as error:
            raise SsalError(f"malformed manifest ({error})", path) from None

    def to_dict(self) -> dict:
        return {"kind": KIND, "version": VERSION, "created": self.created, "updated": now(),
                "config_file": self.config_file, "dataset": self.dataset, "plan": self.plan,
                "stages": {name: asdict(record) for name, record in self.stages.items()}, "config": self.config}

    def save(self) -> Path:
        atomic_write_json(self.path, self.to_dict())
        return self.path

    def record(self, record: StageRecord) -> None:
        """Put ``record`` (replacing the stage's previous one) and save."""
        self.stages[record.name] = record
        self.save()
