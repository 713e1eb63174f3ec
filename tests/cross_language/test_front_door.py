"""The profile calls of the front door give the same documents in every language (Rust, C, Python, Node).

Each language has a `front_door` program (core/examples/front_door.rs, examples/<lang>/front_door.*) that runs
`front_door CONFIG_FILE` against a config with the profiles "quick" (a small tree) and "slow" (a 3 MiB file under a
bandwidth limit, so that it is still running when it is cancelled), and prints one `{"step", "value"}` (or
`{"step", "kind"}`) JSON object per line: the profiles, the status of "quick" before and after a run of it, the run's
report, the last two lines of its log, the report of a run of "slow" cancelled once its job_started event came, the
error kinds of a missing profile and of a bad page, and the history of "quick". This test runs each program with a
config of its own and compares: the steps and their order; the key sets of every document at every depth (and the
JSON types of the values); and the values, ids, timestamps, timings and the locations themselves aside.

Environment (scripts/test.sh sets it): as for test_same_report.py, SW_TARGET_DIR (libsyncwright_ffi.so and
examples/front_door) and SW_PYTHON.
"""
import json
import os
import re
import subprocess

import pytest

from test_same_report import PYTHON, ROOT, TARGET

STEPS = ["profiles", "status_before", "run", "status_after", "logs", "cancelled", "not_found", "invalid", "history"]

# Fields whose values differ between any two runs: ids, times, durations, the process.
VOLATILE = {"job_id", "run_id", "sync_id", "started_at", "finished_at", "timestamp", "at", "duration_ms", "pid"}


def programs() -> dict:
    return {
        "rust": [str(TARGET / "examples" / "front_door")],
        "c": [str(TARGET / "front_door_c")],
        "python": [PYTHON, str(ROOT / "examples" / "python" / "front_door.py")],
        "node": ["node", str(ROOT / "examples" / "node" / "front_door.js")],
    }


@pytest.fixture(scope="session")
def c_program(tmp_path_factory):
    """Builds examples/c/front_door.c as test_same_report.py builds sync_report.c: plain gcc against the committed
    header and the built library, with an rpath to a folder holding the soname link."""
    out = TARGET / "front_door_c"
    links = tmp_path_factory.mktemp("lib")
    soname = subprocess.run(["readelf", "-d", str(TARGET / "libsyncwright_ffi.so")], check=True, text=True,
                            capture_output=True).stdout.split("Library soname: [", 1)[1].split("]", 1)[0]
    (links / soname).symlink_to(TARGET / "libsyncwright_ffi.so")
    subprocess.run(
        ["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", str(ROOT / "examples" / "c" / "front_door.c"),
         "-I", str(ROOT / "include"), "-L", str(TARGET), "-lsyncwright_ffi", f"-Wl,-rpath,{links}", "-o", str(out)],
        check=True,
    )
    return out


def make_config(base) -> "os.PathLike[str]":
    """Under `base`: the trees of both profiles and a config naming them and the folders, by absolute paths."""
    files = {"a.txt": b"alpha\n", "dir/b.bin": bytes(range(256)) * 40, "dir/sub/c.txt": b"gamma"}
    for rel, data in files.items():
        p = base / "quick_src" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    (base / "slow_src").mkdir()
    (base / "slow_src" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    config = base / "syncwright.toml"
    config.write_text(f"""
[settings]
coordination_dir = "{base / 'coord'}"
state_dir = "{base / 'state'}"
log_dir = "{base / 'logs'}"

[profiles.quick]
source = "{base / 'quick_src'}"
destination = "{base / 'quick_dst'}"

[profiles.slow]
source = "{base / 'slow_src'}"
destination = "{base / 'slow_dst'}"
bwlimit = "64K"
""")
    return config


def shape(v):
    """The keys of every object at every depth (lists: the shape of each item), and the JSON type of the rest."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v]
    if v is None or isinstance(v, (bool, str)):
        return type(v).__name__
    assert isinstance(v, (int, float)), v
    return "number"


def text(s: str, base: str) -> str:
    """`s` with its location, ids, timestamps and timings replaced by placeholders."""
    s = s.replace(base, "<base>")
    s = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", s)
    s = re.sub(r"sync_\d{8}_\d{6}_[0-9a-f]{8}", "<sync_id>", s)
    s = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", "<time>", s)
    s = re.sub(r"\b\d+ ms\b", "<n> ms", s)
    return re.sub(r"\b\d+(\.\d+)? s\b", "<t> s", s)


def values(v, base: str):
    """`v` without its VOLATILE fields, its strings through text()."""
    if isinstance(v, dict):
        return {k: values(x, base) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [values(x, base) for x in v]
    return text(v, base) if isinstance(v, str) else v


def run_program(name: str, cmd: list, base) -> dict:
    base.mkdir()
    p = subprocess.run(cmd + [str(make_config(base))], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{name}: exit {p.returncode}\n{p.stderr}\n{p.stdout}"
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    steps = [l["step"] for l in lines]
    assert steps == STEPS, f"{name}: steps {steps}"
    return {l["step"]: l for l in lines}


def test_every_front_door_gives_the_same_documents(tmp_path, c_program):
    out = {name: run_program(name, cmd, tmp_path / name) for name, cmd in programs().items()}
    bases = {name: str(tmp_path / name) for name in out}

    # The same documents: the same keys at every depth, with values of the same JSON types.
    for name, doc in out.items():
        for step in STEPS:
            assert shape(doc[step]) == shape(out["rust"][step]), (
                f"{name} {step} differs from rust in its keys:\n{json.dumps(doc[step], indent=1)}\n"
                f"vs\n{json.dumps(out['rust'][step], indent=1)}")

    def value(name, step):
        return values(out[name][step].get("value"), bases[name])

    for name, doc in out.items():
        assert doc["status_before"]["value"]["state"] == "idle", name
        assert doc["run"]["value"]["status"] == "completed", name
        assert doc["status_after"]["value"]["state"] == "success", name
        assert len(doc["logs"]["value"]) == 2, name
        assert doc["cancelled"]["value"]["status"] == "cancelled", name
        assert doc["not_found"]["kind"] == "not_found", name
        assert doc["invalid"]["kind"] == "invalid_input", name
        assert doc["history"]["value"]["pagination"] == {"page": 1, "per_page": 10, "total": 1, "pages": 1}, name

        # The same values, ids, times and locations aside.
        for step in ("profiles", "status_before", "run", "status_after", "history"):
            assert value(name, step) == value("rust", step), (
                f"{name} {step} differs from rust:\n{json.dumps(value(name, step), indent=1)}\n"
                f"vs\n{json.dumps(value('rust', step), indent=1)}")
        logs = [(e["level"], e["message"]) for e in value(name, "logs")]
        assert logs == [(e["level"], e["message"]) for e in value("rust", "logs")], name
