"""A two-rank CPSP run (tiny config, the real KITTI sample), for the distributed CPSP test.

    torchrun --nproc_per_node=2 tests/helpers/ssl_dist.py CONFIG DATA_ROOT LEDGER CKPT OUT

Each rank writes ``OUT/rank<r>.json``: per epoch, the database round it trained on and a digest of that database
as the rank loaded it, then a digest of its final parameters.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssal.config import load_config  # noqa: E402
from ssal.engine import distributed_session  # noqa: E402
from ssal.ssl import refresh  # noqa: E402
from ssal.ssl.cpsp import run_cpsp  # noqa: E402

RECORDS: list[dict] = []


def digest_database(database) -> str:
    digest = hashlib.sha256()
    for part in database.parts:
        for table in (part.objects, part.backgrounds):
            for key in sorted(table):
                digest.update(key.encode() + table[key].tobytes())
        digest.update(part.points.tobytes())
    return digest.hexdigest()[:16]


class RecordingRefreshHook(refresh.RefreshHook):
    def before_epoch(self, trainer):
        super().before_epoch(trainer)
        dataset = trainer.dataset
        RECORDS.append({"epoch": trainer.state.epoch, "round": dataset.round_index,
                        "database": digest_database(dataset.database)})

    def after_train(self, trainer):
        state = trainer.model.state_dict()
        RECORDS.append({"params": hashlib.sha256(b"".join(t.detach().cpu().numpy().tobytes()
                                                          for t in state.values())).hexdigest()[:16]})


def main() -> None:
    config_path, data_root, ledger, ckpt, out = sys.argv[1:6]
    config = load_config(config_path, [f"data.root={data_root}", "train.batch_size=1", "cpsp.refresh_interval=1"])
    refresh.RefreshHook = RecordingRefreshHook  # run_cpsp looks the hook up at call time
    import ssal.ssl.cpsp as cpsp

    cpsp.RefreshHook = RecordingRefreshHook
    with distributed_session("cpu") as dist:
        run_cpsp(config, ledger, ckpt, Path(out) / "run", epochs=2, dist=dist)
        (Path(out) / f"rank{dist.rank}.json").write_text(json.dumps({"records": RECORDS,
                                                                      "world_size": dist.world_size}))


if __name__ == "__main__":
    main()
