#!/usr/bin/env python3
"""Interleaved benchmark of syncwright over SFTP against `rsync -a -e ssh` and `rclone sync` to an sftp remote,
all through the same loopback sshd (started by bench/sftp.sh).

Scenarios (medians of RUNS interleaved runs, ratios against rsync):
  push_initial   local -> host, empty destination each run
  push_nochange  local -> host, destination already in sync
  pull_initial   host -> local, empty destination each run (media off a GPU host: document 2's main case)
  pull_nochange  host -> local, already in sync
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import rm, run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, help="the generated tree (on this machine; the host is loopback)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--known-hosts", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scenarios", default="push_initial,push_nochange,pull_initial,pull_nochange")
    ap.add_argument("--json")
    a = ap.parse_args()
    src = a.src.rstrip("/")
    w = a.work
    os.makedirs(w, exist_ok=True)
    host = "127.0.0.1"
    ssh = "ssh -p %d -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes" % (
        a.port, a.key, a.known_hosts)
    url = lambda p: "sftp://%s@%s:%d%s" % (a.user, host, a.port, p)  # noqa: E731
    rclone = ["rclone", "--config", "/dev/null", "sync", "--transfers", "4", "--checkers", "8",
              "--sftp-host", host, "--sftp-port", str(a.port), "--sftp-user", a.user,
              "--sftp-key-file", a.key, "--sftp-known-hosts-file", a.known_hosts,
              # Without this rclone runs md5sum on the host over ssh for every file (minutes for this tree).
              "--sftp-disable-hashcheck"]
    state = os.path.join(w, "state")
    sw = [a.bin, "--state-dir", state, "sync", "--no-progress", "--ssh-key", a.key, "--known-hosts", a.known_hosts]
    d = {k: os.path.join(w, k) for k in ("push-rsync", "push-rclone", "push-sw", "pull-rsync", "pull-rclone", "pull-sw")}

    def fresh(path, *more):
        def prep():
            rm(path)
            for m in more:
                rm(m)
        return prep

    push = [
        ("rsync -a -e ssh", d["push-rsync"], lambda: ["rsync", "-a", "-e", ssh, src + "/", "%s@%s:%s/" % (a.user, host, d["push-rsync"])]),
        ("rclone sync", d["push-rclone"], lambda: rclone + [src, ":sftp:" + d["push-rclone"]]),
        ("syncwright", d["push-sw"], lambda: sw + [src, url(d["push-sw"])]),
    ]
    pull = [
        ("rsync -a -e ssh", d["pull-rsync"], lambda: ["rsync", "-a", "-e", ssh, "%s@%s:%s/" % (a.user, host, src), d["pull-rsync"] + "/"]),
        ("rclone sync", d["pull-rclone"], lambda: rclone + [":sftp:" + src, d["pull-rclone"]]),
        ("syncwright", d["pull-sw"], lambda: sw + [url(src), d["pull-sw"]]),
    ]
    scenarios = {
        "push_initial": (push, True),
        "push_nochange": (push, False),
        "pull_initial": (pull, True),
        "pull_nochange": (pull, False),
    }
    results = {}
    for name in a.scenarios.split(","):
        cmds, initial = scenarios[name]
        if not initial:
            for _, _, cmd in cmds:
                run(cmd())
        times = {label: [] for label, _, _ in cmds}
        rss = {label: 0 for label, _, _ in cmds}
        for _ in range(a.runs):
            for label, dest, cmd in cmds:
                if initial:
                    # An empty destination and, for syncwright, no state (no hash cache, no cached manifest).
                    rm(dest)
                    if label == "syncwright":
                        rm(state)
                # No dirty pages left by the previous command: syncwright makes its writes durable (`sync -f` on
                # the host, syncfs locally), which would otherwise also write back what rsync or rclone left in the
                # page cache on the same disk.
                os.sync()
                dt, peak = run(cmd())
                times[label].append(dt)
                rss[label] = max(rss[label], peak)
        med = {k: statistics.median(v) for k, v in times.items()}
        base = med["rsync -a -e ssh"]
        results[name] = {
            "median_s": med,
            "all_s": times,
            "peak_rss_bytes": rss,
            "ratio_vs_rsync": med["syncwright"] / base,
            "ratio_vs_rclone": med["syncwright"] / med["rclone sync"],
        }
        print("%-14s rsync %7.3f s  rclone %7.3f s  syncwright %7.3f s   vs rsync %.2f  vs rclone %.2f   RSS %.0f MB" % (
            name, base, med["rclone sync"], med["syncwright"], med["syncwright"] / base,
            med["syncwright"] / med["rclone sync"], rss["syncwright"] / 1e6))
        sys.stdout.flush()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
