"""The label-efficiency benchmark: does S-SSAL deliver near-full accuracy from ~2 % of the labels? (issue 14)

    python benchmarks/label_efficiency.py --tier quick --out runs/label_efficiency --workers 2
    python benchmarks/label_efficiency.py --tier full --out runs/le_full --only s_ssal random_normal --seeds 0
    python benchmarks/label_efficiency.py --tier quick --out runs/label_efficiency --list     # the plan, no work
    python benchmarks/label_efficiency.py --tier quick --out runs/label_efficiency --threads 1  # leave a core free

Every entry is one ``ssal run`` folder, ``OUT/runs/<entry>/x<scale>/seed<k>`` (full supervision:
``OUT/runs/full/seed<k>``), so the benchmark resumes where it stopped: finished stages are skipped, an interrupted
training continues from its checkpoint, and entries can be spread over sittings or machines (``--only``) and
processes (``--workers``). Entries, on one synthetic world (``OUT/world``, written once):

* the paper's 2 x 2 ablation {random, CAL} x {normal pre-training, CPSP}; CAL + CPSP (with ``final_cpsp``) is S-SSAL;
* the baselines with normal pre-training: entropy, mc_dropout, coreset, badge, crb, and ``crb_code`` (CRB with its
  code's absent-class smoothing and per-class density grids);
* full supervision (every label of the pool) as the reference;
* at the paper's KITTI budget scaled to the pool (200 initial + 150 queried boxes of 17,298: 1.156 % + 0.867 % of
  the pool's Car/Pedestrian/Cyclist boxes) and at 2x and 4x that (``--scales``);
* for each seed (``--seeds``): the seed changes the initial set and the training, never the world.

The schedule is iteration-based (``data.samples_per_epoch``, ``cpsp.samples_per_epoch``,
``cpsp.final_samples_per_epoch``): every training stage of every entry sees the same number of frame-samples
whatever the number of frames its labelled set holds, so a strategy that buys more (smaller) frames for the same
boxes does not also get more training. Entries of one (scale, seed) share the initial set and the ``pretrain``
model (and the two CPSP entries the ``cpsp`` model): the S-SSAL entry runs those stages first and the others
adopt them (``ssal.pipeline.adopt``), which computes exactly what they would have computed themselves.

Writes ``OUT/results.json`` (every finished entry found under ``OUT/runs``: per-class 3-D and BEV AP R40
Easy/Moderate/Hard of the delivered model and of every model of the run, boxes and frames bought per class, the
denominator, AP by world tag, wall time) and ``OUT/report/index.html`` (``ssal report --benchmark OUT``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# The paper's KITTI budget as shares of KITTI's 17,298 Car/Pedestrian/Cyclist training boxes.
INITIAL_SHARE, ROUND_SHARE = 200 / 17298, 150 / 17298
RESULTS_KIND = "ssal-label-efficiency-results"


@dataclass(frozen=True)
class Entry:
    """One line of the benchmark: a strategy with a pre-training, or full supervision."""

    name: str
    strategy: str
    pretrain: str = "normal"
    overrides: tuple[str, ...] = ()

    @property
    def full_supervision(self) -> bool:
        return self.strategy == "all labels"


ENTRIES = (
    Entry("s_ssal", "cal", "cpsp"),
    Entry("cal_normal", "cal"),
    Entry("random_cpsp", "random", "cpsp"),
    Entry("random_normal", "random"),
    Entry("entropy", "entropy"),
    Entry("mc_dropout", "mc_dropout"),
    Entry("coreset", "coreset"),
    Entry("badge", "badge"),
    Entry("crb", "crb"),
    Entry("crb_code", "crb", overrides=("active.crb.absent_class_smoothing=true", "active.crb.per_class_grid=true")),
    Entry("full", "all labels"),
)
DONOR = "s_ssal"  # runs the shared stages of its (scale, seed) first


@dataclass
class Tier:
    """World, detector and schedule of a tier. ``samples``: frame-samples per epoch of a supervised stage;
    ``cpsp_samples`` / ``final_cpsp_samples`` the same for the two CPSP stages."""

    config: str
    preset: str
    train_frames: int
    val_frames: int
    epochs: int
    samples: int
    cpsp_samples: int
    final_cpsp_samples: int
    cpsp_epochs: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    scales: tuple[int, ...] = (1, 2, 4)
    overrides: tuple[str, ...] = ()
    world_seed: int = 0
    budget_factor: float = 1.0  # multiplies the paper's shares (only the smoke tier's 40-frame pool needs it)
    convergence_epochs: tuple[int, ...] = ()  # --convergence: schedules to try on the smallest labelled set


TIERS = {
    # The protocol: a KITTI-sized pool, the cpu detector (0.32 m pillars over KITTI's range).
    "full": Tier("configs/synthetic/s_ssal.yaml", "kitti", 3712, 3769, epochs=40, samples=1000, cpsp_samples=1000,
                 final_cpsp_samples=1000, cpsp_epochs=20, convergence_epochs=(10, 20, 40, 80)),
    # 2 CPU cores, at most 2 hours from nothing: a smaller pool, the tiny detector (41 x 41 m in front), one seed.
    "quick": Tier("configs/synthetic/s_ssal_tiny.yaml", "kitti", 600, 200, epochs=10, samples=160, cpsp_samples=160,
                  final_cpsp_samples=160, cpsp_epochs=6, seeds=(0,), scales=(1, 2),
                  overrides=("cpsp.refresh_interval=3",), convergence_epochs=(5, 10, 20)),
    # Proves the script end to end in a few minutes (the tests use it): a tiny world, one epoch per stage.
    "smoke": Tier("configs/synthetic/s_ssal_tiny.yaml", "small", 40, 12, epochs=1, samples=8, cpsp_samples=8,
                  final_cpsp_samples=8, cpsp_epochs=1, seeds=(0,), scales=(1,),
                  overrides=("cpsp.refresh_interval=0", "active.inference_batch_size=4"), world_seed=5,
                  budget_factor=8.0, convergence_epochs=(1, 2)),
}


@dataclass
class Task:
    entry: Entry
    scale: int | None
    seed: int
    run_dir: str
    overrides: list[str] = field(default_factory=list)
    until: str | None = None
    adopt_from: str | None = None
    adopt: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------ world
def ensure_world(out: Path, tier: Tier, workers: int = 1) -> Path:
    """``OUT/world``: the tier's synthetic world, written once (a finished world has ``ImageSets/val.txt``)."""
    from ssal.data.synthetic.generate import generate

    world = out / "world"
    if not (world / "ImageSets" / "val.txt").is_file():
        print(f"==> writing the world: {tier.train_frames} + {tier.val_frames} frames, preset {tier.preset}",
              flush=True)
        generate(world, tier.train_frames, seed=tier.world_seed, val_frames=tier.val_frames, preset=tier.preset,
                 overwrite=True, progress=False, workers=workers)  # same bytes whatever the workers
    return world


def pool_boxes(config_file: Path, world: Path) -> int:
    """The denominator: Car/Pedestrian/Cyclist (the configured classes) boxes of the pool."""
    from ssal.active.workflow import open_pool
    from ssal.config import load_config

    config = load_config(config_file, [f"data.root={world}"])
    return sum(open_pool(config).oracle().totals().values())


# ------------------------------------------------------------------------------------------------- plan
def budgets(boxes: int, scale: float) -> tuple[int, int]:
    """(initial, round) budget in boxes: the paper's shares of ``boxes`` times ``scale``."""
    return max(1, round(scale * INITIAL_SHARE * boxes)), max(1, round(scale * ROUND_SHARE * boxes))


def entry_overrides(tier: Tier, world: Path, entry: Entry, scale: int | None, seed: int, boxes: int) -> list[str]:
    schedule = [f"data.samples_per_epoch={tier.samples}", f"cpsp.samples_per_epoch={tier.cpsp_samples}",
                f"cpsp.final_samples_per_epoch={tier.final_cpsp_samples}", f"train.epochs={tier.epochs}"]
    if tier.cpsp_epochs is not None:
        schedule.append(f"cpsp.epochs={tier.cpsp_epochs}")
    common = [f"data.root={world}", *schedule, f"train.seed={seed}", f"pipeline.seed={seed}", "train.workers=0",
              "pipeline.bev_frames=2", *tier.overrides]
    if entry.full_supervision:
        return common + ["pipeline.mode=full_supervision"]
    initial, round_budget = budgets(boxes, scale * tier.budget_factor)
    return common + ["pipeline.mode=active", f"pipeline.pretrain={entry.pretrain}", f"active.strategy={entry.strategy}",
                     "active.unit=boxes", "active.rounds=1", f"active.initial_budget={initial}",
                     f"active.round_budget={round_budget}", *entry.overrides]


def run_dir_of(out: Path, entry: Entry, scale: int | None, seed: int) -> Path:
    if entry.full_supervision:
        return out / "runs" / entry.name / f"seed{seed}"
    return out / "runs" / entry.name / f"x{scale}" / f"seed{seed}"


def plan_tasks(out: Path, tier: Tier, world: Path, entries: list[Entry], seeds, scales, boxes: int
               ) -> tuple[list[Task], list[Task]]:
    """(phase 1, phase 2): phase 1 runs the shared stages (the S-SSAL entry up to ``cpsp``, or ``pretrain`` when
    no CPSP entry is chosen) of every (scale, seed) and full supervision; phase 2 the rest, adopting them."""
    by_name = {e.name: e for e in ENTRIES}
    first, second = [], []
    for seed in seeds:
        for entry in entries:
            if entry.full_supervision:
                first.append(Task(entry, None, seed, str(run_dir_of(out, entry, None, seed)),
                                  entry_overrides(tier, world, entry, None, seed, boxes)))
        for scale in scales:
            active = [e for e in entries if not e.full_supervision]
            if not active:
                continue
            donor = by_name[DONOR]
            donor_dir = run_dir_of(out, donor, scale, seed)
            uses_cpsp = any(e.pretrain == "cpsp" for e in active)
            until = "cpsp" if uses_cpsp else "pretrain"
            first.append(Task(donor, scale, seed, str(donor_dir),
                              entry_overrides(tier, world, donor, scale, seed, boxes), until=until))
            for entry in active:
                shared = ("init", "pretrain", "cpsp") if entry.pretrain == "cpsp" else ("init", "pretrain")
                second.append(Task(entry, scale, seed, str(run_dir_of(out, entry, scale, seed)),
                                   entry_overrides(tier, world, entry, scale, seed, boxes),
                                   adopt_from=None if entry.name == DONOR else str(donor_dir), adopt=shared))
    return first, second


# ------------------------------------------------------------------------------------------------- work
def run_task(task: Task, config_file: str, threads: int) -> tuple[str, float, str | None]:
    """One ``ssal run`` (in this process or a worker): (run folder, seconds, error or None)."""
    import torch

    from ssal.config import load_config
    from ssal.pipeline.adopt import adopt_stages
    from ssal.pipeline.run import run_pipeline

    torch.set_num_threads(threads)
    started = time.monotonic()
    try:
        config = load_config(ROOT / config_file, task.overrides)
        run_dir = Path(task.run_dir)
        if task.adopt_from and not (run_dir / "manifest.json").exists():
            adopt_stages(task.adopt_from, run_dir, config, task.adopt, config_file)
        run_pipeline(config, run_dir, config_file=config_file, until=task.until, report=False)
        _error_file(task).unlink(missing_ok=True)
        return task.run_dir, time.monotonic() - started, None
    except Exception as error:  # one failed entry must not stop the others; the summary names it
        # beside the run folder, not in it: a folder without a manifest must stay empty for `ssal run`
        _error_file(task).parent.mkdir(parents=True, exist_ok=True)
        _error_file(task).write_text(traceback.format_exc())
        return task.run_dir, time.monotonic() - started, f"{type(error).__name__}: {error}"


def _error_file(task: Task) -> Path:
    return Path(task.run_dir).with_name(Path(task.run_dir).name + ".error.txt")


def run_phase(tasks: list[Task], config_file: str, workers: int, threads: int | None = None) -> list[str]:
    """Run ``tasks`` over ``workers`` processes of ``threads`` threads each (default: the cores shared out);
    returns the errors (one line each)."""
    if not tasks:
        return []
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    if workers == 1:
        outcomes = [run_task(t, config_file, threads) for t in tasks]
    else:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            outcomes = pool.starmap(run_task, [(t, config_file, threads) for t in tasks])
    errors = []
    for run_dir, seconds, error in outcomes:
        print(f"    {run_dir}: {'FAILED ' + error if error else 'done'} ({seconds:.0f} s)", flush=True)
        if error:
            errors.append(f"{run_dir}: {error}")
    return errors


# ------------------------------------------------------------------------------------------------ convergence
def convergence(out: Path, tier: Tier, world: Path, boxes: int, workers: int, threads: int | None = None
                ) -> list[dict]:
    """Is the schedule long enough? The x1, seed-0 initial set trained (``pretrain``, from scratch) with each of
    ``tier.convergence_epochs`` epochs of ``tier.samples`` samples, each model evaluated on the val split:
    ``OUT/convergence.json``, one point per schedule. Separate runs, not the checkpoints of one long run: the
    one-cycle learning rate depends on the length of the schedule."""
    from ssal.atomic import atomic_write_json

    entry = next(e for e in ENTRIES if e.name == "random_normal")
    tasks = []
    for epochs in tier.convergence_epochs:
        overrides = entry_overrides(tier, world, entry, 1, 0, boxes) + [f"train.epochs={epochs}"]
        tasks.append(Task(entry, 1, 0, str(out / "convergence" / f"epochs{epochs}"), overrides, until="pretrain"))
    errors = run_phase(tasks, tier.config, workers, threads)
    points = []
    for epochs, task in zip(tier.convergence_epochs, tasks):
        if not any(e.startswith(task.run_dir + ":") for e in errors):
            points.append({"epochs": epochs, "samples": epochs * tier.samples, **_pretrain_ap(task, tier.config)})
    atomic_write_json(out / "convergence.json", {"kind": "ssal-label-efficiency-convergence", "version": 1,
                                                 "points": points})
    return points


def _pretrain_ap(task: Task, config_file: str) -> dict:
    """mAP of a convergence run's ``pretrain`` model on the val split (cached beside it)."""
    from ssal.atomic import atomic_write_json
    from ssal.config import load_config
    from ssal.data.datasets import dataset_from_config
    from ssal.pipeline.prediction import evaluate_frames, load_detector, predict_frames
    from ssal.report.metrics import headline

    cache = Path(task.run_dir) / "val_map.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    config = load_config(ROOT / config_file, task.overrides)
    reader = dataset_from_config(config.data)
    infos = reader.infos(config.data.val_split)
    model = load_detector(config, Path(task.run_dir) / "pretrain" / "ckpt" / "latest.pth")
    metrics = evaluate_frames(config, infos, predict_frames(config, model, reader, infos))
    ledger = json.loads((Path(task.run_dir) / "ledger.json").read_text())
    result = {"map_moderate": headline(metrics, "kitti")["value"], "ap": per_class_ap(metrics),
              "labelled_boxes": sum(sum(r["boxes_per_class"].values()) for r in ledger["rounds"]),
              "labelled_frames": sum(len(r["frames"]) for r in ledger["rounds"])}
    atomic_write_json(cache, result)
    return result


# ------------------------------------------------------------------------------------------------ results
def collect(out: Path, world: Path, tier_name: str, tier: Tier, boxes: int) -> dict:
    """``OUT/results.json``: every evaluated entry under ``OUT/runs`` (whoever ran it)."""
    from ssal.atomic import atomic_write_json

    rows = []
    for entry in ENTRIES:
        for results in sorted((out / "runs" / entry.name).glob("**/results.json")):
            rows.append(entry_row(entry, results.parent, world))
    document = {"kind": RESULTS_KIND, "version": 1, "tier": tier_name, "tier_settings": asdict(tier),
                "world": str(world), "pool_boxes": boxes, "initial_share": INITIAL_SHARE, "round_share": ROUND_SHARE,
                "schedule": schedule_text(tier), "entries": rows}
    atomic_write_json(out / "results.json", document)
    return document


def schedule_text(tier: Tier) -> str:
    cpsp_epochs = tier.cpsp_epochs or tier.epochs
    return (f"every supervised stage {tier.epochs} epochs x {tier.samples} frame-samples "
            f"({tier.epochs * tier.samples} samples), CPSP {cpsp_epochs} epochs x {tier.cpsp_samples} "
            f"(final CPSP {cpsp_epochs} x {tier.final_cpsp_samples}), whatever the labelled set's size")


def entry_row(entry: Entry, run_dir: Path, world: Path) -> dict:
    results = json.loads((run_dir / "results.json").read_text())
    ledger = json.loads((run_dir / "ledger.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    scale = None if entry.full_supervision else int(run_dir.parent.name[1:])  # .../<entry>/x<scale>/seed<k>
    models = []
    for model in results["models"]:
        metrics = json.loads((run_dir / model["metrics"]).read_text())
        models.append({"stage": model["stage"], "round": model["round"], "headline": model["headline"]["value"],
                       "labelled_boxes": model["labelled"]["labelled_boxes"],
                       "labelled_frames": model["labelled"]["labelled_frames"], "ap": per_class_ap(metrics)})
    delivered = results["models"][-1]
    bought = {c: sum(r["boxes_per_class"][c] for r in ledger["rounds"] if r["kind"] == "query")
              for c in ledger["dataset"]["classes"]}
    return {"entry": entry.name, "strategy": results["strategy"], "pretrain": None if entry.full_supervision
            else results["pretrain"], "scale": scale, "seed": results["seed"], "run": str(run_dir),
            "delivered": delivered["stage"], "ap": models[-1]["ap"], "map_moderate": models[-1]["headline"],
            "labelled_boxes": delivered["labelled"]["labelled_boxes"],
            "labelled_frames": delivered["labelled"]["labelled_frames"],
            "per_class_labelled": delivered["labelled"]["per_class"], "bought_per_class": bought,
            "bought_frames": sum(len(r["frames"]) for r in ledger["rounds"] if r["kind"] == "query"),
            "denominator": ledger["denominator"], "models": models,
            "by_tag": by_tag(run_dir, delivered["stage"], world, list(ledger["dataset"]["classes"])),
            # the entry's own stages: adopted ones (notes "adopted from ...") were timed in the donor's folder
            "wall_s": round(sum(s.get("wall_s") or 0.0 for s in manifest["stages"].values() if not _adopted(s)), 1),
            "stage_wall_s": {name: s.get("wall_s") for name, s in manifest["stages"].items()},
            "adopted": [name for name, s in manifest["stages"].items() if _adopted(s)]}


def _adopted(record: dict) -> bool:
    return any(str(note).startswith("adopted from") for note in record.get("notes", []))


def per_class_ap(metrics: dict) -> dict:
    """{class | "mean": {"3d": [e, m, h], "bev": [e, m, h]}} at 40 recall positions."""
    return {name: {"3d": list(value["3d"]["R40"]), "bev": list(value["bev"]["R40"])}
            for name, value in metrics.items() if isinstance(value, dict) and "3d" in value and name != "loose"}


def by_tag(run_dir: Path, stage: str, world: Path, classes: list[str]) -> dict:
    """3-D AP R40 Moderate of the delivered model per world tag (``synth_tags.json``), from the KITTI result files
    the evaluate stage wrote; cached beside them for the checkpoint they came from."""
    from ssal.atomic import atomic_write_json
    from ssal.eval.kitti_files import load_eval_frames
    from ssal.eval.tags import evaluate_kitti_by_tag, read_tags

    tags_file, folder = world / "synth_tags.json", run_dir / "eval" / stage
    if not tags_file.is_file() or not (folder / "results").is_dir():
        return {}
    source = json.loads((folder / "source.json").read_text())
    cache = folder / "by_tag.json"
    if cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("checkpoint_sha256") == source["checkpoint_sha256"]:
            return stored["by_tag"]
    ids = world / "ImageSets" / f"{source['split']}.txt"
    frames = load_eval_frames(world / "training" / "label_2", folder / "results", ids)
    table = evaluate_kitti_by_tag(frames.ids, frames.gt, frames.pred, read_tags(tags_file), classes=classes)
    compact = {tag: {"frames": item["frames"], "object_tag": item["object_tag"], "objects": item["objects"],
                     "moderate_3d": {c: (item["result"][c]["3d"]["R40"][1] if item["objects"][c] else None)
                                     for c in classes}} for tag, item in table.items()}
    atomic_write_json(cache, {"checkpoint_sha256": source["checkpoint_sha256"], "by_tag": compact})
    return compact


# -------------------------------------------------------------------------------------------------- main
def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tier", choices=sorted(TIERS), default="quick")
    parser.add_argument("--out", required=True, type=Path, help="benchmark folder (world, runs, results, report)")
    parser.add_argument("--only", nargs="+", metavar="ENTRY", choices=[e.name for e in ENTRIES],
                        help="these entries only (default: all)")
    parser.add_argument("--seeds", type=lambda s: tuple(int(x) for x in s.split(",")), help="e.g. 0,1,2")
    parser.add_argument("--scales", type=lambda s: tuple(int(x) for x in s.split(",")), help="e.g. 1,2,4")
    parser.add_argument("--workers", type=int, default=1, help="processes running entries side by side")
    parser.add_argument("--threads", type=int, help="torch threads per process (default: the cores over --workers); "
                        "1 leaves a core to other work")
    parser.add_argument("--list", action="store_true", help="print the plan and stop")
    parser.add_argument("--report-only", action="store_true", help="collect results.json and the report, run nothing")
    parser.add_argument("--convergence", action="store_true",
                        help="first train the smallest labelled set with each of the tier's convergence schedules "
                             "(OUT/convergence.json; the report plots AP against frame-samples)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    tier = TIERS[args.tier]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    seeds, scales = args.seeds or tier.seeds, args.scales or tier.scales
    entries = [e for e in ENTRIES if args.only is None or e.name in args.only]
    started = time.monotonic()
    world = ensure_world(out, tier, args.workers)
    boxes = pool_boxes(ROOT / tier.config, world)
    first, second = plan_tasks(out, tier, world, entries, seeds, scales, boxes)
    print(f"==> tier {args.tier}: {len(entries)} entries, seeds {seeds}, scales {scales}; pool {boxes} boxes; "
          "budgets " + ", ".join(f"x{s}: {budgets(boxes, s * tier.budget_factor)}" for s in scales)
          + f"; {schedule_text(tier)}",
          flush=True)
    if args.list:
        for task in first + second:
            print(f"    {task.run_dir}" + (f" (until {task.until})" if task.until else ""))
        return 0
    errors = []
    if args.convergence and not args.report_only:
        print(f"==> convergence: epochs {tier.convergence_epochs} x {tier.samples} samples", flush=True)
        for point in convergence(out, tier, world, boxes, args.workers, args.threads):
            print(f"    {point['epochs']} epochs ({point['samples']} samples): mAP {point['map_moderate']:.2f}")
    if not args.report_only:
        print(f"==> phase 1: {len(first)} run(s) of the shared stages and full supervision", flush=True)
        errors += run_phase(first, tier.config, args.workers, args.threads)
        failed = {e.split(": ", 1)[0] for e in errors}
        second, skipped = ([t for t in second if (t.adopt_from or t.run_dir) not in failed],
                           [t for t in second if (t.adopt_from or t.run_dir) in failed])
        errors += [f"{t.run_dir}: skipped, its shared stages failed" for t in skipped if t.run_dir not in failed]
        print(f"==> phase 2: {len(second)} run(s)", flush=True)
        errors += run_phase(second, tier.config, args.workers, args.threads)
    document = collect(out, world, args.tier, tier, boxes)
    from ssal.report.benchmark import build_benchmark_report

    page = build_benchmark_report(out / "results.json", out / "report")
    print(f"==> {len(document['entries'])} finished entries in {out / 'results.json'}; report {page}; "
          f"{time.monotonic() - started:.0f} s", flush=True)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
