import pytest


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory, monkeypatch):
    """Keep syncwright's state store (hash cache) out of the user's home during tests."""
    monkeypatch.setenv("SYNCWRIGHT_STATE_DIR", str(tmp_path_factory.mktemp("state")))
