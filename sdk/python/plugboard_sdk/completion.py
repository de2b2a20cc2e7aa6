"""Streaming a completion from a provider plugin; usable only inside `Plugin.complete`."""

from __future__ import annotations

from . import _host
from .types import TextChunk, ToolCall, ToolCallChunk


def emit_text(text: str) -> bool:
    """Sends a piece of text to the client. Returns False when the client has gone away:
    stop generating and return."""
    return _host.current("completion.emit_text").completion_emit(TextChunk(text))


def emit_tool_call(call: ToolCall) -> bool:
    """Sends a tool call to the client. Returns False when the client has gone away."""
    return _host.current("completion.emit_tool_call").completion_emit(ToolCallChunk(call))
