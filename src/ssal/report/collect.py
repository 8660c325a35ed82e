"""What a report shows about one run, read only from the JSON files the run already wrote (never by running a
model): ``results.json``, ``manifest.json``, ``ledger.json``, ``eval/*/metrics.json``, ``*/chosen_frames.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ssal.errors import SsalError
from ssal.json_file import read_json

__all__ = ["RunSummary", "load_run"]


@dataclass
class RunSummary:
    """One run as the report sees it."""

    path: Path
    results: dict
    manifest: dict
    ledger: dict
    metrics: dict[str, dict] = field(default_factory=dict)  # stage -> evaluator JSON
    chosen: list[dict] = field(default_factory=list)  # chosen_frames.json of each query stage

    @property
    def variant(self) -> str:
        """``<strategy> + <pretrain>`` (``full supervision`` for the reference)."""
        if self.results.get("mode") == "full_supervision":
            return "full supervision"
        return f"{self.results['strategy']} + {self.results['pretrain']}"

    @property
    def label(self) -> str:
        return f"{self.variant} (seed {self.results.get('seed')}, {self.path.name})"

    @property
    def format(self) -> str:
        return self.results.get("format", "kitti")


def _read(path: Path) -> dict:
    return read_json(path, "missing: run `ssal run` to the evaluate stage first")


def load_run(path: str | Path) -> RunSummary:
    path = Path(path)
    if not (path / "manifest.json").is_file():
        raise SsalError("not a run folder of `ssal run` (no manifest.json)", path)
    run = RunSummary(path, _read(path / "results.json"), _read(path / "manifest.json"), _read(path / "ledger.json"))
    for model in run.results["models"]:
        run.metrics[model["stage"]] = _read(path / model["metrics"])
    for name in run.manifest.get("plan", []):
        chosen = path / name / "chosen_frames.json"
        if name.startswith("query") and chosen.is_file():
            run.chosen.append(_read(chosen))
    return run
