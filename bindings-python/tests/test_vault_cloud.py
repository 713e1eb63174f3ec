"""The vault and document 3's cloud-sync calls from Python: blocking and async, results checked against their
TypedDicts, errors as their classes, and no secret in any error."""

import asyncio
from pathlib import Path
from typing import List

import pytest

import syncwright
from syncwright import types as T

from test_types import check


def config(tmp_path, flags=False):
    (tmp_path / "proj" / "assets").mkdir(parents=True, exist_ok=True)
    (tmp_path / "proj" / "assets" / "a.txt").write_text("a")
    (tmp_path / "proj" / "cache").mkdir(exist_ok=True)
    (tmp_path / "proj" / "cache" / "c.bin").write_text("cache")
    return {
        "settings": {
            "vault": str(tmp_path / "v.json"),
            "vault_kdf": {"m_kib": 64, "t": 1, "p": 1},
            "state_dir": str(tmp_path / "state"),
        },
        "features": {"enable_cloud_sync": flags, "enable_cloud_sync_s3": flags},
        "cloud_sync": {"root": str(tmp_path / "proj"), "s3": {"bucket": "b"}},
    }


def test_vault_round_trip_and_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNCWRIGHT_SECRETS_KEY", raising=False)
    with syncwright.Engine(config=config(tmp_path)) as engine:
        check(engine.config(), T.Config)
        st = engine.vault_status()
        check(st, T.VaultStatus)
        assert (st["exists"], st["unlocked"], st["passphrase_env_set"]) == (False, False, False)
        # No passphrase anywhere: auth, naming the variable.
        with pytest.raises(syncwright.AuthError, match="SYNCWRIGHT_SECRETS_KEY"):
            engine.vault_init()
        check(engine.vault_init("py passphrase"), T.VaultStatus)
        keys = engine.vault_set("cloud_sync.s3", {"access_key_id": "AK", "secret_access_key": "py-secret-0001"})
        assert keys == ["cloud_sync.s3"]
        got = engine.vault_get("cloud_sync.s3.secret_access_key")
        check(got, T.VaultValue)
        assert got["value"] == "py-secret-0001"
        obj = engine.vault_get("cloud_sync.s3")
        assert obj["value"] == {"access_key_id": "AK", "secret_access_key": "py-secret-0001"}
        check(engine.vault_keys(), List[str])
        with pytest.raises(syncwright.NotFoundError):
            engine.vault_get("nope")
        with pytest.raises(syncwright.InvalidInputError) as bad:
            engine.vault_set("bad key!", "py-secret-0002")
        assert "py-secret-0002" not in str(bad.value)
        with pytest.raises(syncwright.AuthError):
            engine.vault_unlock("wrong passphrase")
        check(engine.vault_change_passphrase("new py passphrase"), T.VaultStatus)
        check(engine.vault_lock(), T.VaultStatus)
        with pytest.raises(syncwright.AuthError):
            engine.vault_keys("py passphrase")
        restore = engine.vault_restore_backup("new py passphrase")
        check(restore, T.VaultRestore)
        assert restore == {"restored": False, "backup": None}
        assert engine.vault_delete("cloud_sync.s3") == []

        conf = tmp_path / "rclone.conf"
        conf.write_text("[aws]\ntype = s3\naccess_key_id = AK\nsecret_access_key = rc-secret\n[x]\ntype = b2\n")
        imported = engine.vault_import_rclone(conf)
        check(imported, T.RcloneImport)
        assert "rc-secret" not in str(imported)
        assert [i["key"] for i in imported["imported"]] == ["rclone.aws"]
        assert imported["not_imported"][0]["section"] == "x"


def test_cloud_calls_follow_the_flags(tmp_path):
    with syncwright.Engine(config=config(tmp_path)) as engine:
        with pytest.raises(syncwright.FeatureDisabledError, match="enable_cloud_sync"):
            engine.cloud_manifest()
        with pytest.raises(syncwright.FeatureDisabledError, match="enable_cloud_sync_s3"):
            engine.cloud_dry_run("s3", snapshot="nightly")
    with syncwright.Engine(config=config(tmp_path, flags=True)) as engine:
        m = engine.cloud_manifest("nightly")
        check(m, T.CloudManifest)
        assert m["manifest"]["entries"] == 1, "the cache folder stays home"
        with pytest.raises(syncwright.InvalidInputError):
            engine.cloud_dry_run("s3", service_config={"endpoint_url": "http://evil"})  # type: ignore[typeddict-unknown-key]
        with pytest.raises(syncwright.InvalidInputError):
            engine.cloud_dry_run("ftp")


def test_async_vault_and_cloud(tmp_path):
    async def main() -> None:
        async with await syncwright.AsyncEngine.open(config=config(tmp_path, flags=True)) as engine:
            check(await engine.vault_init("async passphrase"), T.VaultStatus)
            assert await engine.vault_set("k", "v") == ["k"]
            assert (await engine.vault_get("k"))["value"] == "v"
            assert await engine.vault_keys() == ["k"]
            check(await engine.cloud_manifest(include=["assets"]), T.CloudManifest)
            with pytest.raises(syncwright.FeatureDisabledError):
                await engine.cloud_dry_run("gdrive")

    asyncio.run(main())


def test_backups_round_trip(tmp_path):
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "data" / "a.json").write_text("{}")
    (root / "assets").mkdir()
    (root / "assets" / "b.png").write_bytes(b"\x89PNG...")
    cfg = {"backup": {"root": str(root), "max_backups": 3}, "settings": {"state_dir": str(tmp_path / "state")}}
    with syncwright.Engine(config=cfg) as engine:
        check(engine.config(), T.Config)
        made = engine.backup_create("pre-cloud-sync")
        check(made, T.BackupCreated)
        assert made["entries"] == 2 and made["name"].endswith("-pre-cloud-sync.zip")
        listed = engine.backup_list()
        check(listed, List[T.BackupInfo])
        assert [b["name"] for b in listed] == [made["name"]]
        v = engine.backup_verify(made["name"])
        check(v, T.BackupVerify)
        assert v["ok"]
        r = engine.backup_restore(made["name"], target=tmp_path / "restored")
        check(r, T.BackupRestoreReport)
        assert r["status"] == "completed" and (tmp_path / "restored" / "assets" / "b.png").read_bytes() == b"\x89PNG..."
        kept = engine.backup_restore(made["name"])
        assert sorted(kept["kept"]) == ["assets/b.png", "data/a.json"]
        with pytest.raises(syncwright.InvalidInputError):
            engine.backup_create("../evil")
        with pytest.raises(syncwright.NotFoundError):
            engine.backup_verify("20990101T000000Z.zip")


def test_async_backups(tmp_path):
    root = tmp_path / "p"
    (root / "config").mkdir(parents=True)
    (root / "config" / "c.toml").write_text("x = 1")

    async def main() -> None:
        async with await syncwright.AsyncEngine.open(config={"backup": {"root": str(root)}}) as engine:
            made = await engine.backup_create(max_backups=1)
            assert (await engine.backup_verify(made["path"]))["ok"]
            assert [b["name"] for b in await engine.backup_list()] == [made["name"]]

    asyncio.run(main())


MEDIA = Path(__file__).resolve().parents[2] / "core" / "tests" / "data" / "media"


def test_media_info_matches_its_typeddict():
    with syncwright.Engine(no_store=True) as engine:
        infos = engine.media_info([MEDIA / "a1111.png", MEDIA / "comfyui.webp", MEDIA / "none.png", MEDIA / "nope.png"])
        check(infos, List[T.MediaInfo])
        assert infos[0]["metadata"] is not None and infos[0]["metadata"]["generator"] == "a1111"
        assert infos[1]["metadata"] is not None and infos[1]["metadata"]["generator"] == "comfyui"
        assert infos[2]["metadata"] is None and infos[2]["error"] is None
        assert infos[3]["error"] is not None and infos[3]["error"]["kind"] == "not_found"
        with pytest.raises(syncwright.InvalidInputError):
            engine.media_info([])
