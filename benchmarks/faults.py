"""Kill -9 anywhere in ``ssal run``: the tiny S-SSAL pipeline killed at random moments and re-run ends exactly
like an uninterrupted run.

A small synthetic world (``--train-frames`` + ``--val-frames`` frames, preset small) and the tiny S-SSAL config
(``configs/synthetic/s_ssal_tiny.yaml``, one epoch per stage: ``FAST``). One uninterrupted ``ssal run`` is the
reference; then, for each of ``--kills`` trials, a fresh run folder: ``ssal run`` is started and SIGKILLed after a
delay drawn in the trial's slice of the reference's length (so the kills spread over every stage: set-up, training
steps, checkpoint, ledger, manifest and pool-output writes, evaluation, report), then run again until it finishes.
Then ``--write-kills`` trials kill it *during a write*: ``ssal run`` starts under a hook that SIGKILLs the process
at its k-th ``os.replace`` (k drawn in the trial's slice of the reference run's writes), when the new content of
a file (checkpoint, ledger, manifest, metrics, pool outputs, database part) is on disk but not yet in place.
Each trial must end with the ledger (every round's frames and boxes), the selected frames, every model (checkpoint
hash) and every evaluation identical to the reference's, with no temporary file (``*.tmp``), no ``.partial``
folder and no lock left.

    python benchmarks/faults.py --kills 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "synthetic" / "s_ssal_tiny.yaml"
FAST = ["train.epochs=1", "data.train_repeat=1", "train.batch_size=4", "train.workers=0", "active.initial_budget=20",
        "active.round_budget=15", "pipeline.bev_frames=2", "cpsp.epochs=1", "cpsp.repeat=1", "cpsp.final_repeat=1"]


def make_world(root: Path, train_frames: int, val_frames: int) -> Path:
    env = environment()
    code = ("import sys; from ssal.data.synthetic.generate import generate; "
            "generate(sys.argv[1], int(sys.argv[2]), seed=5, val_frames=int(sys.argv[3]), preset='small')")
    subprocess.run([sys.executable, "-c", code, str(root), str(train_frames), str(val_frames)], check=True, env=env,
                   capture_output=True)
    return root


# ``python -c HOOK run ...`` is ``ssal run ...`` with every ``os.replace`` (the last step of each atomic write)
# counted into $SSAL_FAULTS_WRITES and, at the $SSAL_FAULTS_KILL_AT_WRITE-th, a SIGKILL before the rename.
HOOK = """
import os, runpy, signal, sys
log, target = os.environ.get("SSAL_FAULTS_WRITES"), int(os.environ.get("SSAL_FAULTS_KILL_AT_WRITE", 0))
calls, real = [0], os.replace
def replace(src, dst, *args, **kwargs):
    calls[0] += 1
    if log:
        with open(log, "a") as f:
            f.write(os.fspath(dst) + chr(10))
    if calls[0] == target:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *args, **kwargs)
os.replace = replace
sys.argv = ["ssal", *sys.argv[1:]]
runpy.run_module("ssal", run_name="__main__", alter_sys=True)
"""


def command(world: Path, out: Path, hooked: bool = False) -> list[str]:
    start = ["-c", HOOK] if hooked else ["-m", "ssal"]
    return [sys.executable, *start, "run", "--config", str(TINY), "--data-root", str(world), "--out", str(out),
            *sum((["--set", s] for s in FAST), [])]


def environment(**extra: str) -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"), **extra)


def run_to_end(world: Path, out: Path, writes_log: Path | None = None) -> float:
    """Run ``ssal run`` to its end; with ``writes_log``, every file it renames into place is listed there."""
    start = time.perf_counter()
    extra = {"SSAL_FAULTS_WRITES": str(writes_log)} if writes_log else {}
    done = subprocess.run(command(world, out, hooked=bool(writes_log)), capture_output=True, text=True,
                          env=environment(**extra), timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"ssal run in {out} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def kill(world: Path, out: Path, how: str, when: float) -> bool:
    """Start ``ssal run`` and SIGKILL it after ``when`` seconds (``how="time"``) or at its ``when``-th write
    (``how="write"``); returns whether it was killed before it finished."""
    if how == "write":
        done = subprocess.run(command(world, out, hooked=True), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=environment(SSAL_FAULTS_KILL_AT_WRITE=str(int(when))), timeout=1800)
        return done.returncode == -signal.SIGKILL
    process = subprocess.Popen(command(world, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=environment())
    try:
        process.wait(timeout=when)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


def stage_at_kill(run: Path) -> str:
    """Where the kill landed, as the manifest tells it: the stage running, or the last one complete."""
    try:
        manifest = json.loads((run / "manifest.json").read_text())
    except (OSError, ValueError):
        return "set-up"
    stages = manifest.get("stages", {})
    running = [name for name, record in stages.items() if record.get("status") != "complete"]
    if running:
        return running[0]
    done = [name for name in manifest.get("plan", []) if name in stages]
    return f"after {done[-1]}" if done else "set-up"


def outcome(run: Path) -> dict:
    """What must not depend on kills: the ledger's rounds, every model and every evaluation."""
    ledger = json.loads((run / "ledger.json").read_text())
    rounds = [{k: r.get(k) for k in ("index", "frames", "boxes", "strategy", "seed")} for r in ledger["rounds"]]
    results = json.loads((run / "results.json").read_text())
    models = [{k: m[k] for k in ("stage", "round", "checkpoint_sha256", "headline", "labelled")}
              for m in results["models"]]
    evaluations = {m["stage"]: json.loads((run / m["metrics"]).read_text()) for m in results["models"]}
    manifest = json.loads((run / "manifest.json").read_text())
    statuses = {name: record["status"] for name, record in manifest["stages"].items()}
    return {"ledger": rounds, "selected": [r["frames"] for r in rounds], "models": models,
            "metrics": evaluations, "stages": statuses}


def leftovers(run: Path) -> list[str]:
    found = [*run.rglob("*.tmp"), *run.rglob("*.partial"), *run.rglob("ssal.lock"), *run.rglob("*.json.lock")]
    return sorted(str(p.relative_to(run)) for p in found)


def compare(reference: dict, run: Path) -> dict[str, bool]:
    mine = outcome(run)
    return {"ledger": mine["ledger"] == reference["ledger"],
            "selected frames": mine["selected"] == reference["selected"],
            "models": mine["models"] == reference["models"], "final metrics": mine["metrics"] == reference["metrics"],
            "stages complete": mine["stages"] == reference["stages"], "no temporary files": not leftovers(run)}


def trial(world: Path, run: Path, kills: list[tuple[str, float]], reference: dict) -> dict:
    """Kill a fresh run at each of ``kills`` (``("time", seconds)`` or ``("write", k)``, re-running in between),
    then run it to the end and compare with ``reference``."""
    landed, runs = [], 0
    for how, when in kills:
        killed = kill(world, run, how, when)
        runs += 1
        landed.append(stage_at_kill(run) if killed else "had finished")
    run_to_end(world, run)
    checks = compare(reference, run)
    return {"landed": landed, "runs": runs + 1, "checks": checks, "ok": all(checks.values()),
            "left": leftovers(run)}


def _inside(path: Path, run: Path) -> str:
    try:
        return str(path.relative_to(run.resolve()))
    except ValueError:
        return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kills at random moments")
    parser.add_argument("--write-kills", type=int, default=10, help="kills during random writes")
    parser.add_argument("--train-frames", type=int, default=24)
    parser.add_argument("--val-frames", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    good = 0
    with tempfile.TemporaryDirectory(prefix="ssal_faults_") as scratch:
        world = make_world(Path(scratch) / "world", args.train_frames, args.val_frames)
        reference_run, writes_log = Path(scratch) / "reference", Path(scratch) / "writes.txt"
        first = run_to_end(world, reference_run, writes_log)
        writes = [Path(line).resolve() for line in writes_log.read_text().splitlines()]
        reference = outcome(reference_run)
        # A second uninterrupted run: the same outcome (or kills could not be judged), and the length the kill
        # moments are drawn in (the shorter of the two, so that a busier moment of the machine does not push
        # the late kills past the end).
        second = run_to_end(world, Path(scratch) / "again")
        if outcome(Path(scratch) / "again") != reference:
            print("two uninterrupted runs differ: the pipeline is not deterministic here", flush=True)
            return 1
        length = min(first, second)
        print(f"uninterrupted ssal run: {first:.1f} s and {second:.1f} s, identical; {len(writes)} atomic writes "
              f"({os.getloadavg()[0]:.1f} load average, {os.cpu_count()} CPUs)", flush=True)
        plan = [("time", length * (i + rng.random()) / args.kills) for i in range(args.kills)]
        plan += [("write", 1 + int(len(writes) * (i + rng.random()) / args.write_kills))
                 for i in range(args.write_kills)]
        print(f"{'kill':>4} {'at':>12}  {'landed in':<14} {'writing (as in the reference)':<52} {'runs':>4}  result",
              flush=True)
        for index, (how, when) in enumerate(plan):
            row = trial(world, Path(scratch) / f"killed{index}", [(how, when)], reference)
            good += row["ok"]
            failed = [name for name, passed in row["checks"].items() if not passed]
            verdict = "identical" if row["ok"] else "DIFFERS: " + ", ".join(failed) + (
                f" (left: {', '.join(row['left'])})" if row["left"] else "")
            at = f"{when:.1f} s" if how == "time" else f"write {int(when)}"
            writing = _inside(writes[int(when) - 1], reference_run) if how == "write" else "-"
            print(f"{index + 1:>4} {at:>12}  {row['landed'][0]:<14} {writing:<52} {row['runs']:>4}  {verdict}",
                  flush=True)
    print(f"\n{good}/{len(plan)} killed-and-re-run pipelines identical to the uninterrupted one, nothing left behind; "
          f"load average now {os.getloadavg()[0]:.1f}")
    return 0 if good == len(plan) else 1


if __name__ == "__main__":
    sys.exit(main())
