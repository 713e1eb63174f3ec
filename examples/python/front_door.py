#!/usr/bin/env python3
"""front_door.py - the profile calls of the front door, the Python program of the cross-language scenario.

    python3 examples/python/front_door.py CONFIG_TOML

The config file has two profiles: "quick" (a small tree) and "slow" (a bwlimit, so that it runs for a while).
Lists the profiles, runs "quick" and shows its status, log and history, starts "slow" and cancels it once it has
started, and shows the errors of a missing profile and of a bad page. Prints one JSON object per line to stdout:
{"step": ..., "value": ...} ({"step": ..., "kind": ...} for the errors). Exit code: 0, or 1 on an error; 2 for
wrong arguments.

Needs the syncwright package (bindings-python: `maturin build`, then pip install the wheel).
"""

import json
import sys
from typing import Any, Callable, List, Optional, cast

import syncwright
from syncwright.types import JobStartedEvent


def emit(step: str, value: Any) -> None:
    print(json.dumps({"step": step, "value": value}), flush=True)


def emit_kind(step: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Prints the kind of the error that call(*args, **kwargs) raises."""
    try:
        call(*args, **kwargs)
        kind = "ok"
    except syncwright.SyncwrightError as e:
        kind = e.kind
    print(json.dumps({"step": step, "kind": kind}), flush=True)


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} CONFIG_TOML", file=sys.stderr)
        return 2
    try:
        with syncwright.Engine.open(argv[1]) as engine:
            emit("profiles", engine.profiles())
            emit("status_before", engine.profile_status("quick"))
            emit("run", engine.run_profile("quick").wait())
            emit("status_after", engine.profile_status("quick"))
            emit("logs", engine.profile_log_tail("quick", lines=2))

            # Subscribe before starting the job, so that its job_started event cannot be missed.
            with engine.subscribe(filter={"types": ["job_started"]}) as started:
                job = engine.run_profile("slow")
                # The filter takes job_started events only.
                event = cast(Optional[JobStartedEvent], started.next(timeout=30))
                while event is not None and event["job_id"] != job.id:  # another job's
                    event = cast(Optional[JobStartedEvent], started.next(timeout=30))
            job.cancel()
            if event is None:
                print("error: the slow job did not start in 30 s", file=sys.stderr)
                return 1
            emit("cancelled", job.wait())

            emit_kind("not_found", engine.profile_status, "nope")
            emit_kind("invalid", engine.run_history, "quick", page=1, per_page=0)
            emit("history", engine.run_history("quick", page=1, per_page=10))
    except syncwright.SyncwrightError as e:
        print(f"error: {e.kind}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
