"""`Plugin`, the class a plugin subclasses, and `export`, which makes a subclass the
component's implementation of `plugboard:plugin@0.1.0`."""

from __future__ import annotations

import sys
from typing import Any, Optional, Union

from . import _host
from .errors import PluginError, Reject
from .settings import Settings
from .types import (
    ACCOUNT_EVENT_CLASSES,
    EVENT_CLASSES,
    Account,
    AccountEvent,
    CallContext,
    Completion,
    CompletionRequest,
    Conversation,
    Event,
    ExportFile,
    ExportFormat,
    FileInfo,
    FilterOutcome,
    HealthReport,
    HttpRequest,
    HttpResponse,
    Message,
    ModelInfo,
    PluginFailure,
    Respond,
    SelfTestResult,
    ToolSpec,
    handler_name,
)

TextFilterResult = Union[None, str, Reject, FilterOutcome]
"""What a text filter returns: None keeps the text, a str replaces it, a `Reject`
(returned or raised) refuses it."""


class Plugin:
    """A Plugboard plugin. Subclass it and override the hooks you need: every hook has a
    default, and `export` tells the host which ones the subclass overrides, so the host
    calls only those.

    The host may run several instances of a plugin at once and replace any of them at
    any time (after a fault, for example): `__init__` builds the state of one instance,
    and is called again, on a fresh object, when an operator changes the settings. State
    that must last belongs in `kv`.
    """

    def __init__(self, settings: Settings) -> None:
        """Builds the plugin from its settings (validated against the manifest's schema,
        defaults applied). Raising refuses the settings with the exception's message."""
        self.settings = settings

    # Lifecycle

    def shutdown(self) -> None:
        """Called once when the plugin is unloaded or the server stops."""

    def on_enable(self) -> None:
        """Called when an operator enables the plugin."""

    def on_disable(self) -> None:
        """Called when an operator disables the plugin."""

    def health(self) -> Union[HealthReport, str]:
        """The plugin's view of its health: a `HealthReport`, or a str for a healthy one."""
        return HealthReport.healthy("ok")

    def self_test(self) -> list[Union[SelfTestResult, tuple[str, bool, str]]]:
        """Runs self-tests: `SelfTestResult`s or `(name, passed, message)` tuples."""
        return []

    # Filters

    def before_prompt(self, context: CallContext, prompt: str) -> TextFilterResult:
        """Sees a prompt before the model does: None keeps it, a str replaces it, raising
        (or returning) `Reject("reason")` refuses the turn."""
        return None

    def after_response(self, context: CallContext, response: str) -> TextFilterResult:
        """Sees the model's whole reply before it is stored and shown, like `before_prompt`."""
        return None

    def stream_chunk(self, context: CallContext, chunk: str) -> Optional[str]:
        """Sees each streamed piece of a reply and returns what to send instead (None: the
        same piece, "": hold it back)."""
        return chunk

    def before_request(
        self, context: CallContext, request: HttpRequest
    ) -> Union[None, HttpRequest, HttpResponse, Respond, dict[str, str]]:
        """Sees an API request before the host handles it: None keeps it, a dict of headers
        (or the request with headers added) adds them, an `HttpResponse` with a status of
        400 to 499 (or raising `Reject(reason, status)`) refuses it."""
        return None

    def after_request(
        self, context: CallContext, request: HttpRequest, response: HttpResponse
    ) -> Union[None, HttpResponse, dict[str, str]]:
        """Sees an API response before it is sent: None keeps it, a dict of headers (or the
        response with headers added) adds the headers it lacks."""
        return None

    # Events

    def on_event(self, context: CallContext, event: Event) -> None:
        """Receives an event. By default calls the method named after it, such as
        `on_message_received(context, message)`; override those instead."""
        payload = getattr(event, _EVENT_PAYLOAD[type(event)])
        getattr(self, handler_name(type(event)))(context, payload)

    def on_conversation_started(self, context: CallContext, conversation: Conversation) -> None:
        """A conversation was created."""

    def on_conversation_ended(self, context: CallContext, conversation: Conversation) -> None:
        """A conversation was deleted."""

    def on_message_received(self, context: CallContext, message: Message) -> None:
        """A user's message was received and stored."""

    def on_message_sent(self, context: CallContext, message: Message) -> None:
        """A reply (from the model or a plugin) was stored and sent."""

    def on_message_edited(self, context: CallContext, message: Message) -> None:
        """A message was edited; this is its new state."""

    def on_message_deleted(self, context: CallContext, message: Message) -> None:
        """A message was deleted; this is its last state."""

    def on_plugin_loaded(self, context: CallContext, plugin_id: str) -> None:
        """A plugin finished loading."""

    def on_plugin_unloaded(self, context: CallContext, plugin_id: str) -> None:
        """A plugin was unloaded."""

    def on_plugin_enabled(self, context: CallContext, plugin_id: str) -> None:
        """An operator enabled a plugin."""

    def on_plugin_disabled(self, context: CallContext, plugin_id: str) -> None:
        """A plugin was disabled, by an operator or by its circuit breaker."""

    def on_plugin_failed(self, context: CallContext, failure: PluginFailure) -> None:
        """A plugin failed to load or reload."""

    def on_file_attached(self, context: CallContext, file: FileInfo) -> None:
        """A file was attached to a conversation."""

    def on_file_deleted(self, context: CallContext, file: FileInfo) -> None:
        """A file attachment was deleted."""

    def on_account_event(self, context: CallContext, event: AccountEvent) -> None:
        """Receives an account event. By default calls `on_user_created(context, account)`
        and its siblings. On `user-deleted`, forget what the plugin keeps about them."""
        getattr(self, handler_name(type(event)))(context, event.account)

    def on_user_created(self, context: CallContext, account: Account) -> None:
        """A user was created."""

    def on_user_disabled(self, context: CallContext, account: Account) -> None:
        """An administrator disabled a user."""

    def on_user_enabled(self, context: CallContext, account: Account) -> None:
        """An administrator enabled a disabled user again."""

    def on_user_deleted(self, context: CallContext, account: Account) -> None:
        """A user was deleted with their conversations, messages and files."""

    def message_will_be_posted(self, context: CallContext, message: Message) -> TextFilterResult:
        """Sees a message before it is stored; may rewrite its content or reject it, like
        `before_prompt`."""
        return None

    # Tools, commands, tasks

    def tools(self) -> list[ToolSpec]:
        """The tools this plugin offers. Keep the list constant."""
        return []

    def call_tool(self, context: CallContext, name: str, arguments: Any) -> Any:
        """Runs tool `name` with its arguments (a dict). A str result is passed on as it
        is; anything else is JSON-encoded. Raising fails the call with the message."""
        raise PluginError(f"unknown tool `{name}`")

    def run_command(self, context: CallContext, name: str, arguments: str) -> str:
        """Runs slash command `name` (declared in the manifest's `[[commands]]`) with the
        rest of the line. The result is shown to the user; raising fails it."""
        raise PluginError(f"unknown command `/{name}`")

    def run_task(self, name: str, scheduled_at_ms: int) -> None:
        """Runs scheduled task `name` (declared in `[[schedules]]`); raising fails it."""
        raise PluginError(f"unknown task `{name}`")

    # Providers, exporters, routes

    def list_models(self) -> list[ModelInfo]:
        """The models this provider serves."""
        return []

    def complete(self, request: CompletionRequest) -> Union[Completion, str]:
        """Runs a completion, streaming pieces with `completion.emit_text`, and returns
        the whole result (a str is a finished reply)."""
        raise PluginError(f"model `{request.model}` is not served by this plugin")

    def list_formats(self) -> list[ExportFormat]:
        """The export formats this plugin writes."""
        return []

    def export_conversation(
        self, format: str, conversation: Conversation, messages: list[Message]
    ) -> ExportFile:
        """Writes a conversation and its messages (oldest first) in `format`."""
        raise PluginError(f"unknown export format `{format}`")

    def handle_http(self, context: CallContext, request: HttpRequest) -> Union[HttpResponse, str, dict, list]:
        """Serves a request to one of the plugin's routes: an `HttpResponse`, or a str
        (text) or dict/list (JSON) answered with status 200."""
        return HttpResponse.of_text(404, "not found")


_EVENT_PAYLOAD: dict[type, str] = {
    cls: next(iter(cls.__dataclass_fields__)) for cls in EVENT_CLASSES  # type: ignore[attr-defined]
}

EVENT_METHODS: tuple[str, ...] = ("on_event", "on_account_event") + tuple(
    handler_name(cls) for cls in EVENT_CLASSES + ACCOUNT_EVENT_CLASSES
)

_exported: list[type] = []


def exported_plugin() -> Optional[type]:
    """The class passed to `export`, if any (the last one)."""
    return _exported[-1] if _exported else None


def export(plugin_class: type) -> type:
    """Makes `plugin_class` (a `Plugin` subclass) the plugin of this component. Call it
    once, at the end of `plugin.py`: `plugboard_sdk.export(Greeter)` (or use it as a class
    decorator). Inside a component it defines the classes componentize-py looks for in
    that module; in plain Python it only records the class for the tests."""
    if not (isinstance(plugin_class, type) and issubclass(plugin_class, Plugin)):
        raise TypeError(f"plugboard_sdk.export takes a subclass of plugboard_sdk.Plugin, not {plugin_class!r}")
    _exported.append(plugin_class)
    if _host.IN_COMPONENT:
        from . import _component

        _component.define_exports(plugin_class, sys.modules[plugin_class.__module__])
    return plugin_class
