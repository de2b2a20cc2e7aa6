"""The Plugboard plugin SDK for Python.

A plugin is one `Plugin` subclass in `plugin.py`, built into a WebAssembly component by
componentize-py. Override the hooks you need (every one has a default); `export` tells
the host which ones you override, so it calls only those::

    from plugboard_sdk import Plugin, export

    class Shouter(Plugin):
        def before_prompt(self, context, prompt):
            return prompt.upper()        # None keeps, a str rewrites, Reject(...) refuses

    export(Shouter)

Host services are the modules `log`, `settings`, `kv`, `chat`, `http`, `ai`, `plugins`
and `completion`; each needs the permission its documentation names in `plugin.toml`
and raises `HostError` (with `.kind` and `.message`) when refused. In plain Python (the
plugin's tests) they go to `plugboard_sdk.testing.FakeHost`.
"""

from . import ai, chat, completion, http, kv, log, plugins, settings
from .errors import ErrorKind, HostError, PluginError, Reject, reject
from ._plugin import Plugin, export
from .settings import Settings
from .types import (
    Account,
    AccountEvent,
    CallContext,
    Completion,
    CompletionChunk,
    CompletionMessage,
    CompletionRequest,
    Conversation,
    ConversationEnded,
    ConversationStarted,
    Event,
    ExportFile,
    ExportFormat,
    File,
    FileAttached,
    FileDeleted,
    FileInfo,
    FilterOutcome,
    FinishReason,
    HealthReport,
    HealthStatus,
    Hook,
    HttpRequest,
    HttpResponse,
    Message,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    MessageSent,
    ModelInfo,
    PluginDisabled,
    PluginEnabled,
    PluginFailed,
    PluginFailure,
    PluginLoaded,
    PluginUnloaded,
    Respond,
    Response,
    Role,
    SelfTestResult,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    Usage,
    User,
    UserCreated,
    UserDeleted,
    UserDisabled,
    UserEnabled,
)

__version__ = "0.1.0"

__all__ = [
    "Account",
    "AccountEvent",
    "CallContext",
    "Completion",
    "CompletionChunk",
    "CompletionMessage",
    "CompletionRequest",
    "Conversation",
    "ConversationEnded",
    "ConversationStarted",
    "ErrorKind",
    "Event",
    "ExportFile",
    "ExportFormat",
    "File",
    "FileAttached",
    "FileDeleted",
    "FileInfo",
    "FilterOutcome",
    "FinishReason",
    "HealthReport",
    "HealthStatus",
    "Hook",
    "HostError",
    "HttpRequest",
    "HttpResponse",
    "Message",
    "MessageDeleted",
    "MessageEdited",
    "MessageReceived",
    "MessageSent",
    "ModelInfo",
    "Plugin",
    "PluginDisabled",
    "PluginEnabled",
    "PluginError",
    "PluginFailed",
    "PluginFailure",
    "PluginLoaded",
    "PluginUnloaded",
    "Reject",
    "Respond",
    "Response",
    "Role",
    "SelfTestResult",
    "Settings",
    "TextChunk",
    "ToolCall",
    "ToolCallChunk",
    "ToolSpec",
    "Usage",
    "User",
    "UserCreated",
    "UserDeleted",
    "UserDisabled",
    "UserEnabled",
    "ai",
    "chat",
    "completion",
    "export",
    "http",
    "kv",
    "log",
    "plugins",
    "reject",
    "settings",
]
