"""Tools of other plugins. Only plugins listed in the manifest's `[dependencies]` can be
called; raises `HostError` otherwise, or when the tool fails."""

from __future__ import annotations

import json
from typing import Any

from . import _host


def call_tool(plugin_id: str, tool: str, arguments: Any = None) -> str:
    """Calls `tool` of plugin `plugin_id` with `arguments` (a dict, sent as JSON) and
    returns its result text."""
    text = json.dumps({} if arguments is None else arguments)
    return _host.current("plugins.call_tool").plugins_call_tool(plugin_id, tool, text)


def call_tool_json(plugin_id: str, tool: str, arguments: Any = None) -> Any:
    """Like `call_tool`, with the result decoded from JSON."""
    return json.loads(call_tool(plugin_id, tool, arguments))
