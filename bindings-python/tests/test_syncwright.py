"""Tests of the Python binding: version, the exception hierarchy and build_manifest."""

import json
import pickle
import re
import threading

import pytest

import syncwright
from syncwright import _native, errors

def test_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", syncwright.version())
    assert syncwright.__version__ == syncwright.version()


def test_every_kind_has_its_class():
    assert len(_native.ERROR_KINDS) == 13
    for kind in _native.ERROR_KINDS:
        cls = syncwright.error_class(kind)
        assert cls is not syncwright.SyncwrightError, kind
        assert issubclass(cls, syncwright.SyncwrightError)
        assert cls.kind == kind
        with pytest.raises(cls) as info:
            _native._raise_for_test(kind, f"a {kind} error", "some/path")
        assert type(info.value) is cls
        assert info.value.kind == kind
        assert info.value.message == f"a {kind} error"
        assert info.value.path == "some/path"
        assert str(info.value) == f"a {kind} error"


def test_builtin_bases_and_names():
    assert issubclass(syncwright.SyncwrightPermissionError, PermissionError)
    assert issubclass(syncwright.SyncwrightTimeoutError, TimeoutError)
    assert issubclass(syncwright.InvalidInputError, ValueError)
    with pytest.raises(PermissionError):
        _native._raise_for_test("permission", "denied")
    # Nothing in the package shadows a builtin name.
    import builtins

    assert not set(syncwright.__all__) & set(dir(builtins))


def test_exceptions_pickle_with_kind_and_path():
    for cls in (syncwright.NotFoundError, syncwright.SyncwrightPermissionError):
        e = cls("gone", cls.kind, "a/b")
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is cls and back.kind == cls.kind and back.message == "gone" and back.path == "a/b"


def test_exceptions_carry_the_errors_details():
    holder = {"lock": "dest-1", "job_id": "j-1", "started_at": "2025-01-01T00:00:00Z", "pid": 42, "host": "h"}
    with pytest.raises(syncwright.ConflictError) as info:
        _native._raise_for_test("conflict", "held", None, json.dumps(holder))
    assert info.value.details == holder and info.value.kind == "conflict"
    assert "details=" in repr(info.value)
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is syncwright.ConflictError and back.details == holder
    with pytest.raises(syncwright.UnavailableError) as info:
        _native._raise_for_test("unavailable", "busy", None, '{"retry_after_secs": 7.5}')
    assert info.value.details == {"retry_after_secs": 7.5}
    # Without details: None.
    with pytest.raises(syncwright.NotFoundError) as info:
        _native._raise_for_test("not_found", "gone", "a/b")
    assert info.value.details is None


def test_unknown_kind_falls_back_to_base():
    e = errors._from_native("some_new_kind", "m", None)
    assert type(e) is syncwright.SyncwrightError and e.kind == "some_new_kind"


def test_build_manifest_missing_root(tmp_path):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(syncwright.SyncwrightError) as info:
        syncwright.build_manifest(missing)
    assert isinstance(info.value, syncwright.NotFoundError), repr(info.value)
    assert info.value.kind == "not_found"


def test_build_manifest_returns_a_dict(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"\0" * 1000)
    result = syncwright.build_manifest(str(tmp_path), {})
    assert isinstance(result, dict)
    assert result["errors"] == []
    manifest = result["manifest"]
    assert manifest["schema_version"] >= 1
    assert [e["path"] for e in manifest["entries"]] == ["a.txt", "sub/b.bin"]
    assert manifest["entries"][1]["size"] == 1000
    assert len(manifest["entries"][0]["hashes"]["sha256"]) == 64


def test_build_manifest_accepts_path_objects_and_rejects_bad_options(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    assert syncwright.build_manifest(tmp_path)["manifest"]["entries"][0]["path"] == "a.txt"
    with pytest.raises(syncwright.InvalidInputError) as info:
        syncwright.build_manifest(tmp_path, {"no_such_option": 1})
    assert info.value.kind == "invalid_input"
    assert isinstance(info.value, ValueError)


def test_options_must_be_a_mapping(tmp_path):
    with pytest.raises(TypeError):
        syncwright.build_manifest(tmp_path, ["not", "a", "dict"])  # type: ignore[arg-type]


def test_native_releases_the_gil(tmp_path):
    # Calls from several threads at once must neither deadlock nor crash.
    results = []

    def work():
        try:
            syncwright.build_manifest(tmp_path)
            results.append("ok")
        except syncwright.SyncwrightError as e:
            results.append(e.kind)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == ["ok"] * 4
