#!/usr/bin/env python3
"""Times `syncwright sync` against `rclone sync` pushing one tree to one S3-compatible server.

Scenarios, each run RUNS times, interleaved (rclone run 1, syncwright run 1, rclone run 2, ...); the table gives
medians and the ratio syncwright / rclone:
- initial:  into an empty prefix (a fresh prefix per run; syncwright with a fresh state dir);
- nochange: again into a prefix that already holds the tree.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def run(cmd, env):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return dt, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--label", default="server")
    ap.add_argument("--json")
    ap.add_argument("--rclone-args", default="", help="extra arguments for rclone sync (space-separated)")
    ap.add_argument("--data-dir", help="the server's folder for the bucket (s3s-fs): prefixes are removed there")
    a = ap.parse_args()

    base = dict(os.environ)
    base.pop("AWS_CA_BUNDLE", None)
    base.update(
        {
            "AWS_ACCESS_KEY_ID": a.key,
            "AWS_SECRET_ACCESS_KEY": a.secret,
            "RCLONE_CONFIG_BENCH_TYPE": "s3",
            "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": a.key,
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": a.secret,
            "RCLONE_CONFIG_BENCH_ENDPOINT": a.endpoint,
            "RCLONE_CONFIG_BENCH_REGION": "us-east-1",
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG": "/dev/null",
        }
    )
    os.makedirs(a.work, exist_ok=True)

    def rclone(prefix):
        return ["rclone", "sync", a.src, f"bench:{a.bucket}/{prefix}"] + a.rclone_args.split()

    def sw(prefix, state):
        env = dict(base)
        env["SYNCWRIGHT_STATE_DIR"] = state
        cmd = [a.bin, "sync", a.src, f"s3://{a.bucket}/{prefix}", "--s3-endpoint", a.endpoint, "--s3-region", "us-east-1"]
        return cmd, env

    def purge(prefix):
        # Objects left behind would slow every later LIST (s3s-fs hashes each listed file for its ETag).
        if a.data_dir:
            shutil.rmtree(os.path.join(a.data_dir, prefix), ignore_errors=True)
        else:
            subprocess.run(["rclone", "purge", f"bench:{a.bucket}/{prefix}"], env=base, capture_output=True)

    times = {"initial": {"rclone": [], "syncwright": []}, "nochange": {"rclone": [], "syncwright": []}}
    keep_state = os.path.join(a.work, "state-keep")
    for i in range(a.runs):
        last = i == a.runs - 1
        dt, _ = run(rclone(f"rc-{i}"), base)
        times["initial"]["rclone"].append(dt)
        state = keep_state if last else os.path.join(a.work, f"state-{i}")
        shutil.rmtree(state, ignore_errors=True)
        cmd, env = sw(f"sw-{i}", state)
        dt, _ = run(cmd, env)
        times["initial"]["syncwright"].append(dt)
        print(f"  initial run {i + 1}: rclone {times['initial']['rclone'][-1]:.3f} s, syncwright {dt:.3f} s", flush=True)
        if not last:
            # The server keeps objects (moto: in memory); only the last synced copies stay.
            purge(f"rc-{i}")
            purge(f"sw-{i}")
            shutil.rmtree(state, ignore_errors=True)
    last = a.runs - 1
    for i in range(a.runs):
        dt, _ = run(rclone(f"rc-{last}"), base)
        times["nochange"]["rclone"].append(dt)
        cmd, env = sw(f"sw-{last}", keep_state)
        dt, _ = run(cmd, env)
        times["nochange"]["syncwright"].append(dt)
        print(f"  nochange run {i + 1}: rclone {times['nochange']['rclone'][-1]:.3f} s, syncwright {dt:.3f} s", flush=True)

    rows = []
    print(f"\n{a.label}: medians of {a.runs} interleaved runs")
    print("| scenario | rclone sync | syncwright sync | ratio |")
    print("|---|---|---|---|")
    for scen, t in times.items():
        r, s = statistics.median(t["rclone"]), statistics.median(t["syncwright"])
        rows.append({"scenario": scen, "rclone_s": r, "syncwright_s": s, "ratio": s / r, "runs": t})
        print(f"| {scen} | {r:.3f} s | {s:.3f} s | **{s / r:.2f}** |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"label": a.label, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
