"""Type stubs of the native module (Rust, PyO3). Use the wrappers in ``syncwright`` instead."""

from typing import Optional, Sequence

#: Every stable error kind, in code order (1..13).
ERROR_KINDS: Sequence[str]

def version() -> str: ...
def build_manifest_json(root: str, options_json: Optional[str] = None) -> str: ...
def _raise_for_test(kind: str, message: str, path: Optional[str] = None) -> None: ...
