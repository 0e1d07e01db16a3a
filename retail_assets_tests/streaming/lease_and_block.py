"""A streaming run frozen mid-batch, for lease tests with a real process (killed with SIGKILL).

    python -m retail_assets_tests.streaming.lease_and_block <state_dir> <lake_root> <limit> hold|release

Leases ``limit`` events as ``process_owner()`` (the owner a CLI run uses), lands them in Bronze
through the real local sink (the send happened; the ack did not), prints ``leased <n> <owner>``
and blocks. ``hold`` keeps the outbox file open as a drain does mid-run; ``release`` closes it (a live
owner whose leases others can see).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from retail_assets.streaming.lease_owner import process_owner
from retail_assets.streaming.outbox import Outbox
from retail_assets.streaming.sinks.local import LocalDeltaSink


def main(state_dir: str, lake_root: str, limit: str, mode: str) -> None:
    outbox = Outbox.in_state_dir(Path(state_dir))
    owner = process_owner()
    with outbox.hold():
        batch = outbox.lease(owner, int(limit))
        LocalDeltaSink(lake_root).send(batch)
        if mode == "hold":
            print(f"leased {batch.num_rows} {owner}", flush=True)
            time.sleep(3600)
    print(f"leased {batch.num_rows} {owner}", flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    main(*sys.argv[1:5])
