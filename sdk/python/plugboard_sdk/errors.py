"""Errors: what the host's services raise, and how a hook says no."""

from __future__ import annotations

import enum
from typing import Optional


class ErrorKind(enum.Enum):
    """The kinds of error a host service returns."""

    PERMISSION_DENIED = "permission-denied"
    NOT_FOUND = "not-found"
    INVALID_INPUT = "invalid-input"
    LIMIT_EXCEEDED = "limit-exceeded"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    INTERNAL = "internal"


class HostError(Exception):
    """A host service refused or failed a call: `kind` says how, `message` why (naming the
    permission or limit involved)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"HostError({self.kind}, {self.message!r})"


class Reject(Exception):
    """Raise (or return) from a filter to refuse the text; the reason is shown to the
    user. From `before_request`, it refuses the request with `status` (400 to 499) and the
    reason as the error's message."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def reject(reason: str, status: int = 403) -> Reject:
    """A rejection to return from a filter: `return reject("no secrets, please")`."""
    return Reject(reason, status)


class PluginError(Exception):
    """Raise from a hook with an error channel (`call_tool`, `run_command`, `complete`,
    `export_conversation`, `run_task`, `__init__`) to fail the call with exactly this
    message, without a traceback in the log."""


class NoHostError(HostError):
    """A host service was called outside a component with no fake host installed."""

    def __init__(self, call: str, hint: Optional[str] = None) -> None:
        super().__init__(
            ErrorKind.UNAVAILABLE,
            f"`plugboard_sdk.{call}` needs the Plugboard host, and this is plain Python (a test) "
            "with no fake host installed; install one first: "
            "`host = plugboard_sdk.testing.FakeHost(permissions=[...]).install()` "
            "(or `with FakeHost(...) as host:`)" + (f"; {hint}" if hint else ""),
        )
