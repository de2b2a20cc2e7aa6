"""Which host answers the service calls: the real one inside a component, an installed
`testing.FakeHost` in plain Python, or none (each call then raises `NoHostError`)."""

from __future__ import annotations

import sys
from typing import Any

from .errors import NoHostError

IN_COMPONENT = sys.platform == "wasi"
"""Whether this is a WebAssembly component (componentize-py's CPython runs as `wasi`)."""

_component_host: Any = None
_installed: list[Any] = []


def current(call: str) -> Any:
    """The host that serves `call`: the component's imports or the installed fake."""
    if _installed:
        return _installed[-1]
    if IN_COMPONENT:
        global _component_host
        if _component_host is None:
            from . import _component

            _component_host = _component.ComponentHost()
        return _component_host
    raise NoHostError(call)


def install(host: Any) -> None:
    _installed.append(host)


def uninstall(host: Any) -> None:
    if host in _installed:
        _installed.remove(host)
