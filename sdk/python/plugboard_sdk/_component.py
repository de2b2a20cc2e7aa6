"""Inside a component only: the classes componentize-py looks for (one per exported WIT
interface, instantiated at build time) and the host's imports, converting between the
generated bindings (`wit_world`) and the SDK's types at the boundary."""

from __future__ import annotations

import importlib
import json
from typing import Any, Optional

import wit_world
from componentize_py_types import Err
from wit_world.exports import account_events as w_account_events
from wit_world.exports import events as w_events
from wit_world.exports import exporter as w_exporter
from wit_world.exports import filters as w_filters
from wit_world.exports import lifecycle as w_lifecycle
from wit_world.imports import completion_sink as w_completion_sink
from wit_world.imports import log as w_log
from wit_world.imports import settings as w_settings
from wit_world.imports import types as w

from . import types as t
from ._glue import Glue, HookFailed
from .errors import ErrorKind, HostError


# The host services the manifest grants. `plugboard plugin build` builds the component
# for a world that imports only those (so a plugin without `network` has no way to the
# network at all, and the host sees no import it would warn about); a call to one that
# is missing is refused here as the host refuses it.

_CHAT_PERMISSIONS = {
    "get_conversation": "channels.read",
    "create_conversation": "channels.write",
    "list_messages": "messages.read",
    "post_message": "messages.write",
    "edit_message": "messages.write",
    "delete_message": "messages.write",
    "get_user": "users.read",
    "read_file": "files.read",
    "write_file": "files.write",
}


class _NotGranted:
    """Stands for a host interface the component does not import: every function raises
    the host's permission error."""

    def __init__(self, interface: str) -> None:
        self._interface = interface

    def __getattr__(self, function: str) -> Any:
        if self._interface == "plugins":
            message = (
                "this plugin may only call plugins it depends on; add `<plugin id> = \"<version range>\"` "
                "to `[dependencies]` in plugin.toml"
            )
        else:
            permission = {"kv": "kv", "http_client": "network", "ai": "ai"}.get(self._interface) or _CHAT_PERMISSIONS.get(
                function, "messages.read"
            )
            message = (
                f"this plugin needs permission `{permission}` for this; "
                f'add "{permission}" to `permissions` in plugin.toml'
            )

        def refuse(*_args: Any) -> Any:
            raise Err(w.HostError(w.ErrorKind.PERMISSION_DENIED, message))

        return refuse


def _granted(interface: str) -> Any:
    try:
        return importlib.import_module(f"wit_world.imports.{interface}")
    except ImportError:
        return _NotGranted(interface)


w_ai = _granted("ai")
w_chat = _granted("chat")
w_http_client = _granted("http_client")
w_kv = _granted("kv")
w_plugins = _granted("plugins")

# From the bindings to the SDK's types


def _role(role: w.Role) -> t.Role:
    return t.Role[role.name]


def _context(c: w.CallContext) -> t.CallContext:
    return t.CallContext(c.conversation_id, c.user_id, c.model, c.request_id)


def _message(m: w.Message) -> t.Message:
    return t.Message(m.id, m.conversation_id, _role(m.role), m.author, m.content, m.created_at_ms)


def _conversation(c: w.Conversation) -> t.Conversation:
    return t.Conversation(c.id, c.title, c.user_id, c.created_at_ms)


def _http_request(r: w.HttpRequest) -> t.HttpRequest:
    return t.HttpRequest(r.method, r.uri, [(k, v) for k, v in r.headers], bytes(r.body))


def _http_response(r: w.HttpResponse) -> t.HttpResponse:
    return t.HttpResponse(r.status, [(k, v) for k, v in r.headers], bytes(r.body))


def _tool_spec(s: w.ToolSpec) -> t.ToolSpec:
    try:
        parameters = json.loads(s.parameters_schema)
    except ValueError:
        parameters = {}
    return t.ToolSpec(s.name, s.description, parameters)


def _tool_call(c: w.ToolCall) -> t.ToolCall:
    return t.ToolCall(c.id, c.name, c.arguments)


def _completion_request(r: w.CompletionRequest) -> t.CompletionRequest:
    messages = [
        t.CompletionMessage(_role(m.role), m.content, [_tool_call(c) for c in m.tool_calls], m.tool_call_id)
        for m in r.messages
    ]
    tools = [_tool_spec(s) for s in r.tools]
    return t.CompletionRequest(r.model, messages, tools, r.temperature, r.top_p, r.max_tokens)


def _completion(c: w.Completion) -> t.Completion:
    return t.Completion(
        c.content,
        [_tool_call(call) for call in c.tool_calls],
        t.FinishReason[c.finish_reason.name],
        t.Usage(c.usage.prompt_tokens, c.usage.completion_tokens),
    )


def _file_info(f: w_events.FileInfo) -> t.FileInfo:
    return t.FileInfo(f.id, f.conversation_id, f.name, f.media_type, f.size)


def _event(e: Any) -> t.Event:
    v = e.value
    if isinstance(e, w_events.Event_ConversationStarted):
        return t.ConversationStarted(_conversation(v))
    if isinstance(e, w_events.Event_ConversationEnded):
        return t.ConversationEnded(_conversation(v))
    if isinstance(e, w_events.Event_MessageReceived):
        return t.MessageReceived(_message(v))
    if isinstance(e, w_events.Event_MessageSent):
        return t.MessageSent(_message(v))
    if isinstance(e, w_events.Event_MessageEdited):
        return t.MessageEdited(_message(v))
    if isinstance(e, w_events.Event_MessageDeleted):
        return t.MessageDeleted(_message(v))
    if isinstance(e, w_events.Event_PluginLoaded):
        return t.PluginLoaded(v)
    if isinstance(e, w_events.Event_PluginUnloaded):
        return t.PluginUnloaded(v)
    if isinstance(e, w_events.Event_PluginEnabled):
        return t.PluginEnabled(v)
    if isinstance(e, w_events.Event_PluginDisabled):
        return t.PluginDisabled(v)
    if isinstance(e, w_events.Event_PluginFailed):
        return t.PluginFailed(t.PluginFailure(v.plugin, v.error))
    if isinstance(e, w_events.Event_FileAttached):
        return t.FileAttached(_file_info(v))
    if isinstance(e, w_events.Event_FileDeleted):
        return t.FileDeleted(_file_info(v))
    raise TypeError(f"unknown event {e!r}")


def _account_event(e: Any) -> t.AccountEvent:
    account = t.Account(e.value.id, e.value.username)
    if isinstance(e, w_account_events.AccountEvent_UserCreated):
        return t.UserCreated(account)
    if isinstance(e, w_account_events.AccountEvent_UserDisabled):
        return t.UserDisabled(account)
    if isinstance(e, w_account_events.AccountEvent_UserEnabled):
        return t.UserEnabled(account)
    if isinstance(e, w_account_events.AccountEvent_UserDeleted):
        return t.UserDeleted(account)
    raise TypeError(f"unknown account event {e!r}")


# From the SDK's types to the bindings


def _w_role(role: t.Role) -> w.Role:
    return w.Role[role.name]


def _w_message(m: t.Message) -> w.Message:
    return w.Message(m.id, m.conversation_id, _w_role(m.role), m.author, m.content, m.created_at_ms)


def _w_conversation(c: t.Conversation) -> w.Conversation:
    return w.Conversation(c.id, c.title, c.user_id, c.created_at_ms)


def _w_headers(headers: Any) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), str(v)) for k, v in items]


def _w_http_request(r: t.HttpRequest) -> w.HttpRequest:
    return w.HttpRequest(r.method, r.uri, _w_headers(r.headers), bytes(r.body))


def _w_http_response(r: t.HttpResponse) -> w.HttpResponse:
    return w.HttpResponse(r.status, _w_headers(r.headers), bytes(r.body))


def _w_tool_spec(s: t.ToolSpec) -> w.ToolSpec:
    return w.ToolSpec(s.name, s.description, json.dumps(s.parameters))


def _w_tool_call(c: t.ToolCall) -> w.ToolCall:
    return w.ToolCall(c.id, c.name, c.arguments)


def _w_completion_request(r: t.CompletionRequest) -> w.CompletionRequest:
    messages = [
        w.CompletionMessage(_w_role(m.role), m.content, [_w_tool_call(c) for c in m.tool_calls], m.tool_call_id)
        for m in r.messages
    ]
    return w.CompletionRequest(
        r.model, messages, [_w_tool_spec(s) for s in r.tools], r.temperature, r.top_p, r.max_tokens
    )


def _w_completion(c: t.Completion) -> w.Completion:
    return w.Completion(
        c.content,
        [_w_tool_call(call) for call in c.tool_calls],
        w.FinishReason[c.finish_reason.name],
        w.Usage(c.usage.prompt_tokens, c.usage.completion_tokens),
    )


def _w_filter_outcome(o: t.FilterOutcome) -> w.FilterOutcome:
    if o.kind == "rewrite":
        return w.FilterOutcome_Rewrite(o.text)
    if o.kind == "reject":
        return w.FilterOutcome_Reject(o.text)
    return w.FilterOutcome_Keep()


def _w_health(h: t.HealthReport) -> w_lifecycle.HealthReport:
    return w_lifecycle.HealthReport(w_lifecycle.HealthStatus[h.status.name], h.message, json.dumps(h.details))


# Exports


def _err(failure: HookFailed) -> Err:
    return Err(failure.message)


_exports: dict[type, list[type]] = {}


def define_exports(plugin_class: type, module: Any) -> None:
    """Defines, in the module componentize-py was told to build, one class per exported
    interface, each calling `plugin_class` through one shared `Glue`."""
    if plugin_class not in _exports:
        _exports[plugin_class] = _export_classes(Glue(plugin_class))
    for cls in _exports[plugin_class]:
        setattr(module, cls.__name__, cls)


def _export_classes(glue: Glue) -> list[type]:

    class Lifecycle(wit_world.exports.Lifecycle):
        def implemented_hooks(self) -> list[w_lifecycle.Hook]:
            return [w_lifecycle.Hook[hook.name] for hook in glue.implemented_hooks()]

        def init(self, settings: str) -> None:
            try:
                glue.init(settings)
            except HookFailed as failure:
                raise _err(failure) from None

        def shutdown(self) -> None:
            glue.shutdown()

        def on_enable(self) -> None:
            glue.on_enable()

        def on_disable(self) -> None:
            glue.on_disable()

        def health(self) -> w_lifecycle.HealthReport:
            return _w_health(glue.health())

        def self_test(self) -> list[w_lifecycle.SelfTestResult]:
            return [w_lifecycle.SelfTestResult(r.name, r.passed, r.message) for r in glue.self_test()]

    class Filters(wit_world.exports.Filters):
        def before_prompt(self, context: w.CallContext, prompt: str) -> w.FilterOutcome:
            return _w_filter_outcome(glue.before_prompt(_context(context), prompt))

        def after_response(self, context: w.CallContext, response: str) -> w.FilterOutcome:
            return _w_filter_outcome(glue.after_response(_context(context), response))

        def stream_chunk(self, context: w.CallContext, chunk: str) -> str:
            return glue.stream_chunk(_context(context), chunk)

        def before_request(self, context: w.CallContext, request: w.HttpRequest) -> Any:
            kind, value = glue.before_request(_context(context), _http_request(request))
            if kind == "rewrite":
                return w_filters.RequestOutcome_Rewrite(_w_http_request(value))
            if kind == "respond":
                return w_filters.RequestOutcome_Respond(_w_http_response(value))
            return w_filters.RequestOutcome_Keep()

        def after_request(self, context: w.CallContext, request: w.HttpRequest, response: w.HttpResponse) -> Any:
            kind, value = glue.after_request(_context(context), _http_request(request), _http_response(response))
            if kind == "rewrite":
                return w_filters.ResponseOutcome_Rewrite(_w_http_response(value))
            return w_filters.ResponseOutcome_Keep()

    class Events(wit_world.exports.Events):
        def on_event(self, context: w.CallContext, event: Any) -> None:
            glue.on_event(_context(context), _event(event))

        def message_will_be_posted(self, context: w.CallContext, message: w.Message) -> w.FilterOutcome:
            return _w_filter_outcome(glue.message_will_be_posted(_context(context), _message(message)))

    class AccountEvents(wit_world.exports.AccountEvents):
        def on_account_event(self, context: w.CallContext, event: Any) -> None:
            glue.on_account_event(_context(context), _account_event(event))

    class Tools(wit_world.exports.Tools):
        def list_tools(self) -> list[w.ToolSpec]:
            return [_w_tool_spec(s) for s in glue.list_tools()]

        def call_tool(self, context: w.CallContext, name: str, arguments: str) -> str:
            try:
                return glue.call_tool(_context(context), name, arguments)
            except HookFailed as failure:
                raise _err(failure) from None

    class Provider(wit_world.exports.Provider):
        def list_models(self) -> list[w.ModelInfo]:
            return [
                w.ModelInfo(m.id, m.display_name, m.context_length, m.supports_tools) for m in glue.list_models()
            ]

        def complete(self, request: w.CompletionRequest) -> w.Completion:
            try:
                return _w_completion(glue.complete(_completion_request(request)))
            except HookFailed as failure:
                raise _err(failure) from None

    class Exporter(wit_world.exports.Exporter):
        def list_formats(self) -> list[w_exporter.ExportFormat]:
            return [
                w_exporter.ExportFormat(f.id, f.display_name, f.media_type, f.extension) for f in glue.list_formats()
            ]

        def export_conversation(
            self, format: str, conversation: w.Conversation, messages: list[w.Message]
        ) -> w_exporter.ExportFile:
            try:
                file = glue.export_conversation(format, _conversation(conversation), [_message(m) for m in messages])
            except HookFailed as failure:
                raise _err(failure) from None
            return w_exporter.ExportFile(file.file_name, file.media_type, bytes(file.data))

    class HttpHandler(wit_world.exports.HttpHandler):
        def handle(self, context: w.CallContext, request: w.HttpRequest) -> w.HttpResponse:
            return _w_http_response(glue.handle_http(_context(context), _http_request(request)))

    class Commands(wit_world.exports.Commands):
        def run_command(self, context: w.CallContext, name: str, arguments: str) -> str:
            try:
                return glue.run_command(_context(context), name, arguments)
            except HookFailed as failure:
                raise _err(failure) from None

    class Scheduler(wit_world.exports.Scheduler):
        def run_task(self, name: str, scheduled_at_ms: int) -> None:
            try:
                glue.run_task(name, scheduled_at_ms)
            except HookFailed as failure:
                raise _err(failure) from None

    return [Lifecycle, Filters, Events, AccountEvents, Tools, Provider, Exporter, HttpHandler, Commands, Scheduler]


# Imports


def _host_error(error: Err) -> HostError:
    value = error.value
    return HostError(ErrorKind[value.kind.name], value.message)


class ComponentHost:
    """The host's imports, with the SDK's types."""

    def log_write(self, level: str, message: str) -> None:
        w_log.write(w_log.Level[level.upper()], message)

    def settings_get(self) -> str:
        return w_settings.get()

    def kv_get(self, key: str) -> Optional[bytes]:
        try:
            value = w_kv.get(key)
        except Err as error:
            raise _host_error(error) from None
        return None if value is None else bytes(value)

    def kv_set(self, key: str, value: bytes, ttl_ms: Optional[int]) -> None:
        try:
            w_kv.set(key, value, ttl_ms)
        except Err as error:
            raise _host_error(error) from None

    def kv_delete(self, key: str) -> bool:
        try:
            return w_kv.delete(key)
        except Err as error:
            raise _host_error(error) from None

    def kv_list_keys(self, prefix: str, limit: int) -> list[str]:
        try:
            return list(w_kv.list_keys(prefix, limit))
        except Err as error:
            raise _host_error(error) from None

    def kv_compare_and_set(
        self, key: str, expected: Optional[bytes], new: Optional[bytes], ttl_ms: Optional[int]
    ) -> bool:
        try:
            return w_kv.compare_and_set(key, expected, new, ttl_ms)
        except Err as error:
            raise _host_error(error) from None

    def get_conversation(self, id: str) -> t.Conversation:
        try:
            return _conversation(w_chat.get_conversation(id))
        except Err as error:
            raise _host_error(error) from None

    def create_conversation(self, user_id: str, title: str) -> t.Conversation:
        try:
            return _conversation(w_chat.create_conversation(user_id, title))
        except Err as error:
            raise _host_error(error) from None

    def list_messages(self, conversation_id: str, limit: int) -> list[t.Message]:
        try:
            return [_message(m) for m in w_chat.list_messages(conversation_id, limit)]
        except Err as error:
            raise _host_error(error) from None

    def post_message(self, conversation_id: str, content: str) -> t.Message:
        try:
            return _message(w_chat.post_message(conversation_id, content))
        except Err as error:
            raise _host_error(error) from None

    def edit_message(self, message_id: str, content: str) -> t.Message:
        try:
            return _message(w_chat.edit_message(message_id, content))
        except Err as error:
            raise _host_error(error) from None

    def delete_message(self, message_id: str) -> None:
        try:
            w_chat.delete_message(message_id)
        except Err as error:
            raise _host_error(error) from None

    def get_user(self, id: str) -> t.User:
        try:
            user = w_chat.get_user(id)
        except Err as error:
            raise _host_error(error) from None
        return t.User(user.id, user.display_name, user.is_admin)

    def read_file(self, id: str) -> t.File:
        try:
            file = w_chat.read_file(id)
        except Err as error:
            raise _host_error(error) from None
        return t.File(file.id, file.conversation_id, file.name, file.media_type, bytes(file.data))

    def write_file(self, conversation_id: str, name: str, media_type: str, data: bytes) -> str:
        try:
            return w_chat.write_file(conversation_id, name, media_type, data)
        except Err as error:
            raise _host_error(error) from None

    def http_fetch(self, request: t.HttpRequest) -> t.HttpResponse:
        try:
            return _http_response(w_http_client.fetch(_w_http_request(request)))
        except Err as error:
            raise _host_error(error) from None

    def ai_complete(self, request: t.CompletionRequest) -> t.Completion:
        try:
            return _completion(w_ai.complete(_w_completion_request(request)))
        except Err as error:
            raise _host_error(error) from None

    def plugins_call_tool(self, plugin_id: str, tool: str, arguments: str) -> str:
        try:
            return w_plugins.call_tool(plugin_id, tool, arguments)
        except Err as error:
            raise _host_error(error) from None

    def completion_emit(self, chunk: t.CompletionChunk) -> bool:
        if isinstance(chunk, t.TextChunk):
            return w_completion_sink.emit(w.CompletionChunk_Delta(chunk.text))
        return w_completion_sink.emit(w.CompletionChunk_ToolCall(_w_tool_call(chunk.call)))
