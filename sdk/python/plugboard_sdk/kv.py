"""The plugin's private key-value store. Needs permission `kv`.

Keys are strings of 1 to 512 bytes; values are bytes (a str is stored as UTF-8) of up to
1 MiB. Every function raises `HostError` when the host refuses or fails.
"""

from __future__ import annotations

import json
from typing import Any, Optional, Union

from . import _host
from .errors import ErrorKind, HostError

Value = Union[bytes, bytearray, str]


def _bytes(value: Optional[Value]) -> Optional[bytes]:
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else bytes(value)


def get(key: str) -> Optional[bytes]:
    """The value of `key`, or None when it is absent or expired."""
    return _host.current("kv.get").kv_get(key)


def get_text(key: str) -> Optional[str]:
    """The value of `key` as text (invalid UTF-8 replaced), or None."""
    value = get(key)
    return None if value is None else value.decode("utf-8", errors="replace")


def set(key: str, value: Value, ttl_ms: Optional[int] = None) -> None:
    """Stores `value` under `key`; with `ttl_ms`, it expires that many milliseconds later."""
    _host.current("kv.set").kv_set(key, _bytes(value), ttl_ms)


def delete(key: str) -> bool:
    """Removes `key`; returns whether it existed."""
    return _host.current("kv.delete").kv_delete(key)


def list_keys(prefix: str = "", limit: int = 1000) -> list[str]:
    """Keys starting with `prefix`, in byte order, at most `limit` of them."""
    return _host.current("kv.list_keys").kv_list_keys(prefix, limit)


def compare_and_set(
    key: str, expected: Optional[Value], new: Optional[Value], ttl_ms: Optional[int] = None
) -> bool:
    """Replaces the value of `key` with `new` only if it is now `expected` (None: absent).
    `new` of None deletes the key. Returns whether it swapped."""
    return _host.current("kv.compare_and_set").kv_compare_and_set(key, _bytes(expected), _bytes(new), ttl_ms)


def get_json(key: str, default: Any = None) -> Any:
    """The value of `key` decoded from JSON, or `default` when absent."""
    value = get(key)
    if value is None:
        return default
    try:
        return json.loads(value)
    except ValueError as error:
        raise HostError(ErrorKind.INVALID_INPUT, f"kv value of `{key}` is not JSON: {error}") from error


def set_json(key: str, value: Any, ttl_ms: Optional[int] = None) -> None:
    """Stores `value` as JSON under `key`."""
    set(key, json.dumps(value), ttl_ms)
