"""The language model configured in the host. Needs permission `ai`; raises `HostError`
when the host refuses or the model fails."""

from __future__ import annotations

from typing import Optional, Union

from . import _host
from .types import Completion, CompletionMessage, CompletionRequest, Role, ToolSpec


def complete(
    request: Union[CompletionRequest, str, list[CompletionMessage]],
    *,
    model: str = "",
    tools: Optional[list[ToolSpec]] = None,
    temperature: Optional[float] = None,
    top_p: Optional[float] = None,
    max_tokens: Optional[int] = None,
) -> Completion:
    """Runs a completion to the end: a whole `CompletionRequest`, or a prompt (one user
    message) or list of messages with the keyword options. An empty `model` is the host's
    default model."""
    if not isinstance(request, CompletionRequest):
        messages = [CompletionMessage(Role.USER, request)] if isinstance(request, str) else list(request)
        request = CompletionRequest(model, messages, list(tools or []), temperature, top_p, max_tokens)
    return _host.current("ai.complete").ai_complete(request)


def ask(prompt: str, model: str = "") -> str:
    """Asks the model one question and returns its answer's text."""
    return complete(prompt, model=model).content
