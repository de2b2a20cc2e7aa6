"""Calls a `Plugin` the way the host calls the component: one method per WIT export,
taking and returning the SDK's types. Turns idiomatic Python (None, str, dict, raised
exceptions) into what the WIT functions return. The component's exports
(`_component`) convert types and delegate here; `testing.Harness` calls it directly, so
the tests see exactly what the host would."""

from __future__ import annotations

import json
import traceback
from typing import Any, Optional

from . import log
from .errors import HostError, PluginError, Reject
from ._plugin import EVENT_METHODS, Plugin
from .settings import Settings
from .types import (
    AccountEvent,
    CallContext,
    Completion,
    CompletionRequest,
    Conversation,
    Event,
    ExportFile,
    ExportFormat,
    FilterOutcome,
    HealthReport,
    HealthStatus,
    Hook,
    HttpRequest,
    HttpResponse,
    Message,
    ModelInfo,
    Respond,
    SelfTestResult,
    ToolSpec,
)

HOOK_METHODS: dict[Hook, tuple[str, ...]] = {
    Hook.SHUTDOWN: ("shutdown",),
    Hook.ON_ENABLE: ("on_enable",),
    Hook.ON_DISABLE: ("on_disable",),
    Hook.HEALTH: ("health",),
    Hook.SELF_TEST: ("self_test",),
    Hook.BEFORE_PROMPT: ("before_prompt",),
    Hook.AFTER_RESPONSE: ("after_response",),
    Hook.STREAM_CHUNK: ("stream_chunk",),
    Hook.BEFORE_REQUEST: ("before_request",),
    Hook.AFTER_REQUEST: ("after_request",),
    Hook.EVENTS: EVENT_METHODS,
    Hook.MESSAGE_WILL_BE_POSTED: ("message_will_be_posted",),
    Hook.TOOLS: ("tools", "call_tool"),
    Hook.PROVIDER: ("list_models", "complete"),
    Hook.EXPORTER: ("list_formats", "export_conversation"),
    Hook.HTTP: ("handle_http",),
    Hook.COMMANDS: ("run_command",),
    Hook.SCHEDULED: ("run_task",),
}


def implemented_hooks(plugin_class: type) -> list[Hook]:
    """The optional hooks `plugin_class` implements: those with a method it overrides."""
    return [
        hook
        for hook, methods in HOOK_METHODS.items()
        if any(getattr(plugin_class, name) is not getattr(Plugin, name) for name in methods)
    ]


class HookFailed(Exception):
    """A hook with an error channel failed; `message` is what the host receives."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Exceptions whose message is meant for people: passed on as they are. Any other is a
# bug: its type is named and its traceback logged.
_EXPECTED = (PluginError, HostError, Reject, ValueError)


def _failed(hook: str, error: BaseException) -> HookFailed:
    if isinstance(error, _EXPECTED):
        return HookFailed(str(error) or type(error).__name__)
    _log_traceback(hook)
    return HookFailed(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)


def _log_traceback(hook: str) -> None:
    try:
        log.error(f"hook `{hook}` raised:\n{traceback.format_exc()}")
    except Exception:  # no host to log to (a test without a fake host)
        pass


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def filter_outcome(value: Any) -> FilterOutcome:
    """What a text filter's return value means."""
    if value is None:
        return FilterOutcome("keep")
    if isinstance(value, str):
        return FilterOutcome("rewrite", value)
    if isinstance(value, Reject):
        return FilterOutcome("reject", value.reason)
    if isinstance(value, FilterOutcome):
        return value
    raise TypeError(f"a filter returns None (keep), a str (rewrite) or Reject, not {type(value).__name__}")


def _with_headers(headers: list[tuple[str, str]], extra: dict[str, str]) -> list[tuple[str, str]]:
    return list(headers) + [(name.lower(), value) for name, value in extra.items()]


def health_report(value: Any) -> HealthReport:
    if isinstance(value, HealthReport):
        return value
    if isinstance(value, str):
        return HealthReport.healthy(value)
    if isinstance(value, bool):
        return HealthReport.healthy("ok") if value else HealthReport.unhealthy("unhealthy")
    raise TypeError(f"health returns a HealthReport or a str, not {type(value).__name__}")


def self_test_result(value: Any) -> SelfTestResult:
    if isinstance(value, SelfTestResult):
        return value
    if isinstance(value, tuple) and len(value) in (2, 3):
        name, passed, *message = value
        return SelfTestResult(str(name), bool(passed), str(message[0]) if message else "")
    raise TypeError(f"self_test returns SelfTestResults or (name, passed, message) tuples, not {value!r}")


def tool_spec(value: Any) -> ToolSpec:
    if isinstance(value, ToolSpec):
        return value
    if isinstance(value, dict):
        return ToolSpec(value["name"], value.get("description", ""), value.get("parameters", {"type": "object"}))
    raise TypeError(f"tools returns ToolSpecs, not {value!r}")


class Glue:
    """One component instance's plugin: built by `init`, called by every other hook."""

    def __init__(self, plugin_class: type) -> None:
        self.plugin_class = plugin_class
        self.plugin: Optional[Plugin] = None

    def _plugin(self, hook: str) -> Plugin:
        if self.plugin is None:
            raise RuntimeError(f"hook `{hook}` was called before `init` succeeded")
        return self.plugin

    def _call(self, hook: str, method: str, *args: Any) -> Any:
        """A hook without an error channel: an exception is logged with its traceback and
        raised again, so the call traps and the manifest's `on_error` applies."""
        plugin = self._plugin(hook)
        try:
            return getattr(plugin, method)(*args)
        except BaseException:
            _log_traceback(hook)
            raise

    def _fallible(self, hook: str, method: str, *args: Any) -> Any:
        """A hook with an error channel: an exception becomes the call's error message."""
        plugin = self._plugin(hook)
        try:
            return getattr(plugin, method)(*args)
        except Exception as error:
            raise _failed(hook, error) from error

    def _filter(self, hook: str, method: str, *args: Any) -> FilterOutcome:
        plugin = self._plugin(hook)
        try:
            return filter_outcome(getattr(plugin, method)(*args))
        except Reject as rejection:
            return FilterOutcome("reject", rejection.reason)
        except BaseException:
            _log_traceback(hook)
            raise

    # lifecycle

    def implemented_hooks(self) -> list[Hook]:
        return implemented_hooks(self.plugin_class)

    def init(self, settings_json: str) -> None:
        try:
            settings = Settings.parse(settings_json)
        except ValueError as error:
            raise HookFailed(str(error)) from error
        try:
            self.plugin = self.plugin_class(settings)
        except Exception as error:
            raise _failed("init", error) from error

    def shutdown(self) -> None:
        self._call("shutdown", "shutdown")

    def on_enable(self) -> None:
        self._call("on-enable", "on_enable")

    def on_disable(self) -> None:
        self._call("on-disable", "on_disable")

    def health(self) -> HealthReport:
        return health_report(self._call("health", "health"))

    def self_test(self) -> list[SelfTestResult]:
        return [self_test_result(result) for result in self._call("self-test", "self_test")]

    # filters

    def before_prompt(self, context: CallContext, prompt: str) -> FilterOutcome:
        return self._filter("before-prompt", "before_prompt", context, prompt)

    def after_response(self, context: CallContext, response: str) -> FilterOutcome:
        return self._filter("after-response", "after_response", context, response)

    def stream_chunk(self, context: CallContext, chunk: str) -> str:
        result = self._call("stream-chunk", "stream_chunk", context, chunk)
        return chunk if result is None else str(result)

    def before_request(self, context: CallContext, request: HttpRequest) -> tuple[str, Any]:
        """`("keep", None)`, `("rewrite", HttpRequest)` or `("respond", HttpResponse)`."""
        plugin = self._plugin("before-request")
        try:
            result = plugin.before_request(context, request)
        except Reject as rejection:
            return ("respond", HttpResponse.of_text(rejection.status, rejection.reason))
        except BaseException:
            _log_traceback("before-request")
            raise
        if result is None:
            return ("keep", None)
        if isinstance(result, Reject):
            return ("respond", HttpResponse.of_text(result.status, result.reason))
        if isinstance(result, Respond):
            return ("respond", result.response)
        if isinstance(result, HttpResponse):
            return ("respond", result)
        if isinstance(result, HttpRequest):
            return ("rewrite", result)
        if isinstance(result, dict):
            headers = _with_headers(request.headers, result)
            return ("rewrite", HttpRequest(request.method, request.uri, headers, request.body))
        raise TypeError(f"before_request returns None, a dict of headers, an HttpRequest or an HttpResponse, not {result!r}")

    def after_request(self, context: CallContext, request: HttpRequest, response: HttpResponse) -> tuple[str, Any]:
        """`("keep", None)` or `("rewrite", HttpResponse)`."""
        result = self._call("after-request", "after_request", context, request, response)
        if result is None:
            return ("keep", None)
        if isinstance(result, HttpResponse):
            return ("rewrite", result)
        if isinstance(result, dict):
            return ("rewrite", HttpResponse(response.status, _with_headers(response.headers, result), response.body))
        raise TypeError(f"after_request returns None, a dict of headers or an HttpResponse, not {result!r}")

    # events

    def on_event(self, context: CallContext, event: Event) -> None:
        self._call("on-event", "on_event", context, event)

    def on_account_event(self, context: CallContext, event: AccountEvent) -> None:
        self._call("on-account-event", "on_account_event", context, event)

    def message_will_be_posted(self, context: CallContext, message: Message) -> FilterOutcome:
        return self._filter("message-will-be-posted", "message_will_be_posted", context, message)

    # tools

    def list_tools(self) -> list[ToolSpec]:
        return [tool_spec(tool) for tool in self._call("list-tools", "tools")]

    def call_tool(self, context: CallContext, name: str, arguments: str) -> str:
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except ValueError as error:
            raise HookFailed(f"the arguments are not valid JSON: {error}") from error
        result = self._fallible("call-tool", "call_tool", context, name, parsed)
        try:
            return _json(result)
        except (TypeError, ValueError) as error:
            raise HookFailed(f"tool `{name}` returned a value that is not JSON: {error}") from error

    # provider

    def list_models(self) -> list[ModelInfo]:
        return list(self._call("list-models", "list_models"))

    def complete(self, request: CompletionRequest) -> Completion:
        result = self._fallible("complete", "complete", request)
        return Completion(result) if isinstance(result, str) else result

    # exporter

    def list_formats(self) -> list[ExportFormat]:
        return list(self._call("list-formats", "list_formats"))

    def export_conversation(self, format: str, conversation: Conversation, messages: list[Message]) -> ExportFile:
        return self._fallible("export-conversation", "export_conversation", format, conversation, messages)

    # http, commands, scheduler

    def handle_http(self, context: CallContext, request: HttpRequest) -> HttpResponse:
        result = self._call("handle", "handle_http", context, request)
        if isinstance(result, HttpResponse):
            return result
        if isinstance(result, str):
            return HttpResponse.of_text(200, result)
        return HttpResponse.of_json(200, result)

    def run_command(self, context: CallContext, name: str, arguments: str) -> str:
        result = self._fallible("run-command", "run_command", context, name, arguments)
        return result if isinstance(result, str) else _json(result)

    def run_task(self, name: str, scheduled_at_ms: int) -> None:
        self._fallible("run-task", "run_task", name, scheduled_at_ms)
