"""`Settings`: a plugin's validated settings, a dict."""

from __future__ import annotations

import json
from typing import Any

from . import _host


class Settings(dict):  # type: ignore[type-arg]
    """A plugin's settings: the JSON object the host validated against the manifest's
    schema, defaults applied, as a dict (`settings["greeting"]`, `settings.get(...)`)."""

    @staticmethod
    def parse(text: str) -> "Settings":
        """Settings from the host's JSON; raises ValueError when it is not an object."""
        try:
            value: Any = json.loads(text) if text.strip() else {}
        except ValueError as error:
            raise ValueError(f"the host sent settings that are not JSON: {error}") from error
        if not isinstance(value, dict):
            raise ValueError("the host sent settings that are not a JSON object")
        return Settings(value)


def current() -> Settings:
    """The plugin's current settings, fetched from the host (the same value `__init__`
    received)."""
    return Settings.parse(_host.current("settings.current").settings_get())
