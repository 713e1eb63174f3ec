"""Type stubs of the native module (Rust, PyO3). Use the wrappers in ``syncwright`` instead.

Documents cross as canonical JSON strings (the ``*_json`` names); the progress callback receives a dict.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union, final

__all__: List[str] = [
    "version",
    "build_manifest_json",
    "_raise_for_test",
    "_panic_for_test",
    "status_outcome",
    "report_text",
    "calls",
    "NativeEngine",
    "NativeJob",
    "NativeSubscription",
    "ERROR_KINDS",
]

#: Every stable error kind, in code order (1..13).
ERROR_KINDS: Sequence[str]

def version() -> str: ...
def status_outcome(status: str) -> Optional[str]: ...
def report_text(report_json: str) -> str: ...
def calls() -> List[Tuple[str, List[str], bool, bool]]: ...
def _panic_for_test() -> None: ...
def build_manifest_json(root: str, options_json: Optional[str] = None) -> str: ...
def _raise_for_test(
    kind: str, message: str, path: Optional[str] = None, details_json: Optional[str] = None
) -> None: ...
@final
class NativeEngine:
    """A syncwright engine (runtime and embedded store)."""

    def __new__(cls, config_json: Optional[str] = None) -> "NativeEngine": ...
    @staticmethod
    def open_async(
        config_json: Optional[str], callback: Callable[[Optional[BaseException], Any], object]
    ) -> None: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def close_async(self, callback: Callable[[Optional[BaseException], Any], object]) -> None: ...
    def call(
        self,
        name: str,
        args_json: Optional[str] = None,
        on_progress: Optional[Callable[[Any], object]] = None,
    ) -> Union[str, "NativeJob"]: ...
    def call_async(
        self,
        name: str,
        args_json: Optional[str],
        on_progress: Optional[Callable[[Any], object]],
        callback: Callable[[Optional[BaseException], Any], object],
    ) -> None: ...
    def plan_async(
        self,
        source: str,
        dest: str,
        options_json: Optional[str],
        callback: Callable[[Optional[BaseException], Any], object],
    ) -> None: ...
    def plan_json(self, source: str, dest: str, options_json: Optional[str] = None) -> str: ...
    def start(
        self,
        source: str,
        dest: str,
        options_json: Optional[str] = None,
        on_progress: Optional[Callable[[Any], object]] = None,
    ) -> NativeJob: ...
    def subscribe(
        self, since: Optional[int] = None, filter_json: Optional[str] = None
    ) -> NativeSubscription: ...

@final
class NativeJob:
    """A handle on a background sync."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    def progress_json(self) -> str: ...
    def snapshot_json(self, with_report: bool = False) -> str: ...
    def cancel(self) -> None: ...
    def report_json(self) -> Optional[str]: ...
    def wait_json(self, timeout: Optional[float] = None) -> Optional[str]: ...
    def on_done(self, callback: Callable[[Optional[str]], object]) -> None: ...

@final
class NativeSubscription:
    """A queue of engine events."""

    def next_json(self, timeout: Optional[float] = None) -> Optional[str]: ...
    def on_next(self, callback: Callable[[Optional[str]], object]) -> None: ...
    @property
    def lost(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
