"""The values plugins and the host exchange, as plain dataclasses.

They mirror the records, enums and variants of the WIT package `plugboard:plugin@0.1.0`
field for field, so the same code runs inside the component (where the SDK converts the
generated bindings to these) and in plain CPython tests (where the fake host makes them).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union


class Role(enum.Enum):
    """The author of a chat message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@dataclass
class Message:
    """One message of a conversation."""

    id: str
    conversation_id: str
    role: Role
    author: str
    """`user:<id>`, `assistant`, or `plugin:<plugin-id>`."""
    content: str
    created_at_ms: int = 0


@dataclass
class Conversation:
    """A conversation (a "session" or "channel" in other chat servers)."""

    id: str
    title: str
    user_id: str
    created_at_ms: int = 0


@dataclass
class CallContext:
    """Where a hook call comes from; any field may be empty when it does not apply."""

    conversation_id: str = ""
    user_id: str = ""
    model: str = ""
    request_id: str = ""


@dataclass
class User:
    """A user as plugins see them."""

    id: str
    display_name: str
    is_admin: bool = False


@dataclass
class File:
    """A stored file attachment, with its contents."""

    id: str
    conversation_id: str
    name: str
    media_type: str
    data: bytes

    def text(self, encoding: str = "utf-8") -> str:
        """The contents decoded as text (invalid bytes replaced)."""
        return self.data.decode(encoding, errors="replace")


Headers = list[tuple[str, str]]


def _header(headers: Headers, name: str) -> Optional[str]:
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


@dataclass
class HttpRequest:
    """An HTTP request: one arriving at a plugin route (`uri` is the path below the
    plugin's mount point) or one a plugin sends (`uri` is an absolute URL)."""

    method: str
    uri: str
    headers: Headers = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        """The first header called `name` (case-insensitive), or None."""
        return _header(self.headers, name)

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body decoded from JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body)


@dataclass
class HttpResponse:
    """An HTTP response."""

    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        """The first header called `name` (case-insensitive), or None."""
        return _header(self.headers, name)

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body decoded from JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @staticmethod
    def of_text(status: int, text: str) -> "HttpResponse":
        """A `text/plain` response."""
        return HttpResponse(status, [("content-type", "text/plain; charset=utf-8")], text.encode())

    @staticmethod
    def of_json(status: int, value: Any) -> "HttpResponse":
        """An `application/json` response."""
        return HttpResponse(status, [("content-type", "application/json")], json.dumps(value).encode())


Response = HttpResponse
"""What `http.fetch` returns: `.status`, `.headers`, `.body`, `.text()`, `.json()`."""


@dataclass
class ToolSpec:
    """A tool the model or a user can call. `parameters` is a JSON Schema object schema."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass
class ModelInfo:
    """A model a provider plugin serves."""

    id: str
    display_name: str
    context_length: int = 0
    supports_tools: bool = False


@dataclass
class ToolCall:
    """A tool call the model asked for; `arguments` is a JSON object as text."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass
class CompletionMessage:
    """One message of a completion request."""

    role: Role
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str = ""


@dataclass
class CompletionRequest:
    """A request for a chat completion; an empty `model` is the host's default."""

    model: str = ""
    messages: list[CompletionMessage] = field(default_factory=list)
    tools: list[ToolSpec] = field(default_factory=list)
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    max_tokens: Optional[int] = None


class FinishReason(enum.Enum):
    """Why a completion ended."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool-calls"
    CANCELLED = "cancelled"


@dataclass
class Usage:
    """Token counts of a finished completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Completion:
    """A finished completion."""

    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: FinishReason = FinishReason.STOP
    usage: Usage = field(default_factory=Usage)


@dataclass
class TextChunk:
    """A piece of a streamed completion: more text."""

    text: str


@dataclass
class ToolCallChunk:
    """A piece of a streamed completion: a tool call."""

    call: ToolCall


CompletionChunk = Union[TextChunk, ToolCallChunk]


class HealthStatus(enum.Enum):
    """Health a plugin reports about itself."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass
class HealthReport:
    """The answer of `health`; `details` is a JSON-encodable dict."""

    status: HealthStatus
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def healthy(message: str = "ok", **details: Any) -> "HealthReport":
        return HealthReport(HealthStatus.HEALTHY, message, details)

    @staticmethod
    def degraded(message: str, **details: Any) -> "HealthReport":
        return HealthReport(HealthStatus.DEGRADED, message, details)

    @staticmethod
    def unhealthy(message: str, **details: Any) -> "HealthReport":
        return HealthReport(HealthStatus.UNHEALTHY, message, details)


@dataclass
class SelfTestResult:
    """The result of one self-test."""

    name: str
    passed: bool
    message: str = ""


@dataclass
class ExportFormat:
    """A format an exporter writes."""

    id: str
    display_name: str
    media_type: str
    extension: str


@dataclass
class ExportFile:
    """An exported file."""

    file_name: str
    media_type: str
    data: bytes


@dataclass
class FileInfo:
    """A file attachment without its contents (read them with `chat.read_file`)."""

    id: str
    conversation_id: str
    name: str
    media_type: str
    size: int


@dataclass
class PluginFailure:
    """A plugin that failed to load or reload."""

    plugin: str
    error: str


@dataclass
class Account:
    """A user, as an account event found them."""

    id: str
    username: str


class Hook(enum.Enum):
    """An optional hook the host may call (`lifecycle.hook`)."""

    SHUTDOWN = "shutdown"
    ON_ENABLE = "on-enable"
    ON_DISABLE = "on-disable"
    HEALTH = "health"
    SELF_TEST = "self-test"
    BEFORE_PROMPT = "before-prompt"
    AFTER_RESPONSE = "after-response"
    STREAM_CHUNK = "stream-chunk"
    BEFORE_REQUEST = "before-request"
    AFTER_REQUEST = "after-request"
    EVENTS = "events"
    MESSAGE_WILL_BE_POSTED = "message-will-be-posted"
    TOOLS = "tools"
    PROVIDER = "provider"
    EXPORTER = "exporter"
    HTTP = "http"
    COMMANDS = "commands"
    SCHEDULED = "scheduled"


# Events: one class per case of the WIT variant `events.event`, each with the
# manifest's name of the event in `kind`, so `match event: case MessageReceived(m): ...`
# works.


@dataclass
class ConversationStarted:
    conversation: Conversation
    kind = "conversation-started"


@dataclass
class ConversationEnded:
    conversation: Conversation
    kind = "conversation-ended"


@dataclass
class MessageReceived:
    message: Message
    kind = "message-received"


@dataclass
class MessageSent:
    message: Message
    kind = "message-sent"


@dataclass
class MessageEdited:
    message: Message
    kind = "message-edited"


@dataclass
class MessageDeleted:
    message: Message
    kind = "message-deleted"


@dataclass
class PluginLoaded:
    plugin_id: str
    kind = "plugin-loaded"


@dataclass
class PluginUnloaded:
    plugin_id: str
    kind = "plugin-unloaded"


@dataclass
class PluginEnabled:
    plugin_id: str
    kind = "plugin-enabled"


@dataclass
class PluginDisabled:
    plugin_id: str
    kind = "plugin-disabled"


@dataclass
class PluginFailed:
    failure: PluginFailure
    kind = "plugin-failed"


@dataclass
class FileAttached:
    file: FileInfo
    kind = "file-attached"


@dataclass
class FileDeleted:
    file: FileInfo
    kind = "file-deleted"


Event = Union[
    ConversationStarted,
    ConversationEnded,
    MessageReceived,
    MessageSent,
    MessageEdited,
    MessageDeleted,
    PluginLoaded,
    PluginUnloaded,
    PluginEnabled,
    PluginDisabled,
    PluginFailed,
    FileAttached,
    FileDeleted,
]

EVENT_CLASSES: tuple[type, ...] = (
    ConversationStarted,
    ConversationEnded,
    MessageReceived,
    MessageSent,
    MessageEdited,
    MessageDeleted,
    PluginLoaded,
    PluginUnloaded,
    PluginEnabled,
    PluginDisabled,
    PluginFailed,
    FileAttached,
    FileDeleted,
)


@dataclass
class UserCreated:
    account: Account
    kind = "user-created"


@dataclass
class UserDisabled:
    account: Account
    kind = "user-disabled"


@dataclass
class UserEnabled:
    account: Account
    kind = "user-enabled"


@dataclass
class UserDeleted:
    account: Account
    kind = "user-deleted"


AccountEvent = Union[UserCreated, UserDisabled, UserEnabled, UserDeleted]

ACCOUNT_EVENT_CLASSES: tuple[type, ...] = (UserCreated, UserDisabled, UserEnabled, UserDeleted)


def handler_name(event_class: type) -> str:
    """The `Plugin` method that receives events of this class: `on_message_received`."""
    return "on_" + event_class.kind.replace("-", "_")  # type: ignore[attr-defined]


# What request-level filters decide.


@dataclass
class Respond:
    """`before_request` refuses the request with this response (status 400 to 499)."""

    response: HttpResponse


@dataclass
class FilterOutcome:
    """What a text filter decided, as the host receives it: `kind` is `keep`, `rewrite`
    (with `text`) or `reject` (with the reason in `text`)."""

    kind: str
    text: str = ""
