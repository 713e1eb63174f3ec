"""The documents of syncwright as TypedDicts (placeholder; filled from the canonical schema)."""

from typing import Any, Dict, Literal

LogLevel = Literal["debug", "info", "warning", "error"]

BreakerSettings = Dict[str, Any]
BreakerStatus = Dict[str, Any]
Config = Dict[str, Any]
Event = Dict[str, Any]
JobSnapshot = Dict[str, Any]
LockSelfTest = Dict[str, Any]
LogEntry = Dict[str, Any]
LogPage = Dict[str, Any]
ManifestResult = Dict[str, Any]
Operation = Dict[str, Any]
Plan = Dict[str, Any]
ProfileInfo = Dict[str, Any]
ProfileLocks = Dict[str, Any]
ProfileStatus = Dict[str, Any]
ProgressSnapshot = Dict[str, Any]
RecoveryMetrics = Dict[str, Any]
RunPage = Dict[str, Any]
ScenarioInfo = Dict[str, Any]
SelfTestReport = Dict[str, Any]
StorageUsage = Dict[str, Any]
SyncReport = Dict[str, Any]
UnlockReport = Dict[str, Any]
