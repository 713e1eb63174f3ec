#!/usr/bin/env python3
"""sync_report.py - run one sync as a job, show its progress, print its report.

    python3 examples/python/sync_report.py SRC DST OPTIONS_JSON

Progress goes to stderr, one line per snapshot ("progress <percent> <stage>"); the canonical report JSON goes to
stdout on one line. Exit code: 0 when the run completed, 3 when it was partial (some files failed), 1 otherwise;
2 for wrong arguments. The embedded store lives in $SYNCWRIGHT_STATE_DIR (the engine's default).

Needs the syncwright package (bindings-python: `maturin build`, then pip install the wheel). Example:
    python3 examples/python/sync_report.py SOME/DIR /tmp/copy '{"transfers": 4}'
"""

import json
import sys
from typing import List

import syncwright


def print_progress(snapshot: syncwright.ProgressSnapshot) -> None:
    # Called on a library thread with a progress snapshot dict.
    print(f"progress {snapshot['percent']} {snapshot['stage']}", file=sys.stderr, flush=True)


def main(argv: List[str]) -> int:
    if len(argv) != 4:
        print(f"usage: {argv[0]} SRC DST OPTIONS_JSON", file=sys.stderr)
        return 2
    src, dst, options_json = argv[1:]
    try:
        options = json.loads(options_json or "{}")  # the canonical options, passed as keyword arguments
        with syncwright.Engine() as engine:
            job = engine.start(src, dst, on_progress=print_progress, **options)
            job.wait()
    except json.JSONDecodeError as e:
        print(f"error: invalid_input: bad options JSON: {e}", file=sys.stderr)
        return 1
    except syncwright.SyncwrightError as e:  # bad options, an unusable state directory, ...
        print(f"error: {e.kind}: {e}", file=sys.stderr)
        return 1
    print(job.report_json())  # the canonical report, exactly as the library wrote it
    return {"completed": 0, "partial": 3}.get(job.status, 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
