"""A fake Plugboard host for a plugin's tests in plain CPython (pytest).

A plugin's hooks are ordinary methods, so a test can call them directly. What it cannot
do without help is use the host's services: outside a component there is no host.
`FakeHost` is one, in memory, for every service:

| Service | The fake | Inspect with |
| --- | --- | --- |
| `settings` | `settings=` | `host.init()` builds the plugin from them |
| `kv` | a dict with expiry on a clock the test moves (`advance`); the server's key and value limits | `kv_value`, `kv_text`, `kv_json`, `kv_keys` |
| `chat` | users, conversations, messages and files the test adds; a plugin edits only its own messages | `posted`, `messages(...)`, `conversations`, `files` |
| `http` | responses scripted per URL; `allowed_hosts` checked as the server checks them | `http_requests` |
| `ai` | answers scripted in order | `ai_requests` |
| `plugins` | other plugins' tools, results scripted; any other plugin is refused | `tool_calls` |
| `log` | lines captured | `logs`, `logged(level, text)` |
| `completion` | chunks a provider streams | `emitted` |

By default every permission is granted; `permissions=[...]` with the list of the
plugin's `plugin.toml` makes the fake refuse the others as the server does. Outbound HTTP
needs `allowed_hosts=[...]`, the entries of `[network] allowed_hosts`.

    from plugboard_sdk.testing import FakeHost, context

    def test_counts():
        with FakeHost(permissions=["kv"], settings={"greeting": "Hi"}) as host:
            plugin = host.init(Greeter)
            assert plugin.run_command(context("ada", "c1"), "greet", "Bo") == "Hi, Bo!"
            assert host.kv_json("greeted:Bo") == 1

`FakeHost.from_manifest("plugin.toml")` takes the plugin id, permissions, allowed hosts
and settings' defaults from the manifest, so the tests run with what the server grants.

`host.load(Greeter)` instead gives a `Harness`: the plugin called exactly as the host
calls it (implemented hooks, filter outcomes, tool results as text, errors as
`HookFailed` with the message the host would receive).
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .. import _host
from .._glue import Glue, HookFailed
from ..errors import ErrorKind, HostError
from .._plugin import exported_plugin
from ..settings import Settings
from ..types import (
    CallContext,
    Completion,
    CompletionChunk,
    CompletionRequest,
    Conversation,
    File,
    HttpRequest,
    HttpResponse,
    Message,
    Role,
    User,
)
from ._network import HostPattern, check

__all__ = ["FakeHost", "Harness", "HookFailed", "LogLine", "ToolCallRecord", "context"]

MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 1024 * 1024
MAX_LIST_KEYS = 1000
_json_dumps = json.dumps  # `json` is also a parameter name below
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the same times every run


def context(user_id: str = "", conversation_id: str = "", model: str = "", request_id: str = "test-request") -> CallContext:
    """A call context for calling a hook in a test: the call acts for `user_id` in
    `conversation_id` (either may be empty, as for calls that are not a user's)."""
    return CallContext(conversation_id, user_id, model, request_id)


@dataclass
class LogLine:
    """One line the plugin logged."""

    level: str
    message: str


@dataclass
class ToolCallRecord:
    """One call the plugin made to another plugin's tool."""

    plugin: str
    tool: str
    arguments: Any


@dataclass
class _KvEntry:
    value: bytes
    expires_at_ms: Optional[int]


@dataclass
class _Script:
    method: Optional[str]
    url: str
    answers: deque = field(default_factory=deque)


def _next(answers: deque) -> Any:
    """The next scripted answer: answers are given in order, and the last one repeats."""
    if not answers:
        return None
    return answers.popleft() if len(answers) > 1 else answers[0]


def _error(kind: ErrorKind, message: str) -> HostError:
    return HostError(kind, message)


def _not_found(what: str, id: str) -> HostError:
    return _error(ErrorKind.NOT_FOUND, f"no {what} `{id}`")


def _check_key(key: str) -> None:
    size = len(key.encode())
    if size == 0 or size > MAX_KEY_BYTES:
        raise _error(ErrorKind.INVALID_INPUT, f"kv keys are 1 to {MAX_KEY_BYTES} bytes; this one is {size}")


def _check_value(value: bytes) -> None:
    if len(value) > MAX_VALUE_BYTES:
        raise _error(
            ErrorKind.LIMIT_EXCEEDED, f"kv values are at most {MAX_VALUE_BYTES} bytes; this one is {len(value)}"
        )


def _as_bytes(value: Union[bytes, str]) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


class Harness(Glue):
    """A plugin loaded as the host loads it: built from the fake host's settings, each
    method the WIT export the host calls. `call_tool` also takes its arguments as a dict."""

    def call_tool(self, context: CallContext, name: str, arguments: Any) -> str:  # type: ignore[override]
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return super().call_tool(context, name, text)


class FakeHost:
    """An in-memory Plugboard host. Configure it, add the data the plugin finds, script
    the answers of the services it calls, then `install()` it (or use it as a context
    manager): until `uninstall()`, the SDK's host services go to it."""

    def __init__(
        self,
        *,
        plugin_id: str = "plugin-under-test",
        settings: Optional[dict[str, Any]] = None,
        permissions: Optional[list[str]] = None,
        allowed_hosts: tuple[str, ...] | list[str] = (),
        now_ms: int = START_MS,
        acting_user: Optional[str] = None,
    ) -> None:
        """`permissions`: the `permissions` of plugin.toml (None grants every one).
        `allowed_hosts`: the entries of `[network] allowed_hosts`. `acting_user`: the
        chat service acts for this user, as for a call made for them, and finds only
        their conversations, messages and files."""
        self.plugin_id = plugin_id
        self.settings: dict[str, Any] = dict(settings or {})
        self.permissions: Optional[set[str]] = None if permissions is None else set(permissions)
        self.allowed_hosts: list[HostPattern] = []
        for entry in allowed_hosts:
            self.allow_host(entry)
        self.now_ms = now_ms
        self.acting_user = acting_user
        self._kv: dict[str, _KvEntry] = {}
        self.users: dict[str, User] = {}
        self.conversations: list[Conversation] = []
        self._messages: list[tuple[Message, bool]] = []
        self.files: list[File] = []
        self.posted: list[Message] = []
        """The messages the plugin posted, in order."""
        self._http: list[_Script] = []
        self.http_requests: list[HttpRequest] = []
        """Every request the plugin sent (the ones the allowed hosts let through)."""
        self._ai_answers: deque = deque()
        self.ai_requests: list[CompletionRequest] = []
        self._tools: dict[tuple[str, str], deque] = {}
        self.tool_calls: list[ToolCallRecord] = []
        self.logs: list[LogLine] = []
        self.emitted: list[CompletionChunk] = []
        self._client_takes: Optional[int] = None
        self._next_id = 1

    @classmethod
    def from_manifest(cls, path: Any = "plugin.toml", *, settings: Optional[dict[str, Any]] = None, **options: Any) -> "FakeHost":
        """A fake host configured as the server configures the plugin of `path`: its id,
        its `permissions` (none when absent), its `[network] allowed_hosts`, and its
        settings' defaults, overridden by `settings`. Other keywords are as for `FakeHost`."""
        with open(path, "rb") as file:
            manifest = tomllib.load(file)
        defaults = {
            name: schema["default"]
            for name, schema in manifest.get("settings", {}).get("properties", {}).items()
            if isinstance(schema, dict) and "default" in schema
        }
        options.setdefault("plugin_id", manifest.get("id", "plugin-under-test"))
        options.setdefault("permissions", list(manifest.get("permissions", [])))
        options.setdefault("allowed_hosts", list(manifest.get("network", {}).get("allowed_hosts", [])))
        return cls(settings={**defaults, **(settings or {})}, **options)

    # Installing

    def install(self) -> "FakeHost":
        """Serves the SDK's host calls until `uninstall()` (a fake installed before comes
        back then). Returns the host."""
        _host.install(self)
        return self

    def uninstall(self) -> None:
        _host.uninstall(self)

    def __enter__(self) -> "FakeHost":
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        self.uninstall()

    def init(self, plugin_class: Optional[type] = None) -> Any:
        """Builds the plugin from the settings, as the host does for a fresh instance.
        Without `plugin_class`, the class the plugin passed to `plugboard_sdk.export`."""
        return self._class(plugin_class)(Settings(json.loads(json.dumps(self.settings))))

    def load(self, plugin_class: Optional[type] = None) -> Harness:
        """The plugin, built from the settings and called as the host calls it."""
        harness = Harness(self._class(plugin_class))
        harness.init(json.dumps(self.settings))
        return harness

    @staticmethod
    def _class(plugin_class: Optional[type]) -> type:
        found = plugin_class or exported_plugin()
        if found is None:
            raise RuntimeError("no plugin class: pass one, or import the plugin module (it calls plugboard_sdk.export)")
        return found

    # Setting up

    def allow_host(self, entry: str) -> "FakeHost":
        """Adds an entry of `[network] allowed_hosts`: `api.example.org` (its scheme's
        default port only), `api.example.org:8443`, `api.example.org:*`, `*.example.org`
        or an IP address. Raises ValueError for an entry the server would refuse."""
        self.allowed_hosts.append(HostPattern.parse(entry))
        return self

    def set_kv(self, key: str, value: Union[bytes, str], ttl_ms: Optional[int] = None) -> "FakeHost":
        """Stores `value` under `key`, as another instance of the plugin might have."""
        expires = None if ttl_ms is None else self.now_ms + ttl_ms
        self._kv[key] = _KvEntry(_as_bytes(value), expires)
        return self

    def set_kv_json(self, key: str, value: Any) -> "FakeHost":
        return self.set_kv(key, json.dumps(value))

    def new_id(self, kind: str) -> str:
        id = f"{kind}-{self._next_id}"
        self._next_id += 1
        return id

    def add_user(self, id: str, display_name: str = "", is_admin: bool = False) -> User:
        user = User(id, display_name or id, is_admin)
        self.users[id] = user
        return user

    def add_conversation(self, id: str, user_id: str, title: str = "") -> Conversation:
        """A conversation of `user_id`, created at the clock's time."""
        conversation = Conversation(id, title, user_id, self.now_ms)
        self.conversations.append(conversation)
        return conversation

    def add_message(
        self, conversation_id: str, content: str, role: Union[Role, str] = Role.USER, author: str = ""
    ) -> Message:
        """A stored message, with an id such as `message-3`. `author` defaults to
        `user:<owner>` for a user's message and `assistant` for the model's."""
        role = Role(role) if isinstance(role, str) else role
        if not author:
            owner = next((c.user_id for c in self.conversations if c.id == conversation_id), "")
            author = f"user:{owner}" if role == Role.USER else "assistant"
        message = Message(self.new_id("message"), conversation_id, role, author, content, self.now_ms)
        self._messages.append((message, False))
        return message

    def add_file(self, id: str, conversation_id: str, name: str, media_type: str, data: Union[bytes, str]) -> File:
        file = File(id, conversation_id, name, media_type, _as_bytes(data))
        self.files.append(file)
        return file

    def http_response(
        self,
        url: str,
        status: int = 200,
        *,
        body: Union[bytes, str] = b"",
        json: Any = None,
        headers: Optional[dict[str, str]] = None,
        method: Optional[str] = None,
    ) -> "FakeHost":
        """The response to a request for exactly `url` (with `method`, only for that
        method; checked first). Several for one URL are given in order, the last one
        repeating. The URL's host must still be allowed."""
        header_list = [(k.lower(), v) for k, v in (headers or {}).items()]
        payload = _as_bytes(body)
        if json is not None:
            payload = _json_dumps(json).encode()
            header_list.append(("content-type", "application/json"))
        return self._http_answer(method, url, HttpResponse(status, header_list, payload))

    def http_error(self, url: str, kind: ErrorKind, message: str) -> "FakeHost":
        """A failure for a request to `url`, such as an unreachable server
        (`ErrorKind.UNAVAILABLE`) or one that does not answer in time (`TIMEOUT`)."""
        return self._http_answer(None, url, HostError(kind, message))

    def _http_answer(self, method: Optional[str], url: str, answer: Any) -> "FakeHost":
        method = method.upper() if method else None
        for script in self._http:
            if script.url == url and script.method == method:
                script.answers.append(answer)
                return self
        self._http.append(_Script(method, url, deque([answer])))
        self._http.sort(key=lambda script: script.method is None)
        return self

    def ai_answer(self, content: str) -> "FakeHost":
        """The model's next answer. Answers are given in order, the last one repeating."""
        return self.ai_completion(Completion(content))

    def ai_completion(self, completion: Completion) -> "FakeHost":
        self._ai_answers.append(completion)
        return self

    def ai_error(self, kind: ErrorKind, message: str) -> "FakeHost":
        self._ai_answers.append(HostError(kind, message))
        return self

    def tool_result(self, plugin: str, tool: str, output: Any) -> "FakeHost":
        """The next result of `tool` of `plugin` (a dependency; a non-str is sent as
        JSON). Only plugins given here can be called."""
        text = output if isinstance(output, str) else json.dumps(output)
        self._tools.setdefault((plugin, tool), deque()).append(text)
        return self

    def tool_error(self, plugin: str, tool: str, message: str) -> "FakeHost":
        self._tools.setdefault((plugin, tool), deque()).append(HostError(ErrorKind.INVALID_INPUT, message))
        return self

    def client_leaves_after(self, chunks: int) -> "FakeHost":
        """The client of a streamed completion goes away after `chunks` chunks: from then
        on `completion.emit_text` returns False and nothing more is recorded."""
        self._client_takes = chunks
        return self

    def advance(self, ms: int = 0, *, seconds: float = 0) -> None:
        """Moves the clock forward: keys whose time to live has passed expire."""
        self.now_ms += ms + int(seconds * 1000)

    # Inspecting

    def kv_value(self, key: str) -> Optional[bytes]:
        """The value of `key`, unless absent or expired."""
        entry = self._kv_live(key)
        return None if entry is None else entry.value

    def kv_text(self, key: str) -> Optional[str]:
        value = self.kv_value(key)
        return None if value is None else value.decode("utf-8", errors="replace")

    def kv_json(self, key: str) -> Any:
        value = self.kv_value(key)
        return None if value is None else json.loads(value)

    def kv_keys(self) -> list[str]:
        """Every live key, in order."""
        return sorted(key for key in self._kv if self._kv_live(key) is not None)

    def messages(self, conversation_id: str) -> list[Message]:
        """The live messages of a conversation, oldest first."""
        return [m for m, deleted in self._messages if m.conversation_id == conversation_id and not deleted]

    def logged(self, level: str, text: str) -> bool:
        """Whether a line at `level` contains `text`."""
        return any(line.level == level and text in line.message for line in self.logs)

    # The services (called by the SDK's modules)

    def _require(self, permission: str) -> None:
        if self.permissions is not None and permission not in self.permissions:
            raise _error(
                ErrorKind.PERMISSION_DENIED,
                f"plugin `{self.plugin_id}` needs permission `{permission}` for this; "
                f'add "{permission}" to `permissions` in plugin.toml',
            )

    def log_write(self, level: str, message: str) -> None:
        print(f"[{self.plugin_id} {level}] {message}", file=sys.stderr)
        self.logs.append(LogLine(level, message))

    def settings_get(self) -> str:
        return json.dumps(self.settings)

    def _kv_live(self, key: str) -> Optional[_KvEntry]:
        entry = self._kv.get(key)
        if entry is None or (entry.expires_at_ms is not None and entry.expires_at_ms <= self.now_ms):
            return None
        return entry

    def kv_get(self, key: str) -> Optional[bytes]:
        self._require("kv")
        _check_key(key)
        entry = self._kv_live(key)
        return None if entry is None else entry.value

    def kv_set(self, key: str, value: bytes, ttl_ms: Optional[int]) -> None:
        self._require("kv")
        _check_key(key)
        _check_value(value)
        self._kv[key] = _KvEntry(bytes(value), None if ttl_ms is None else self.now_ms + ttl_ms)

    def kv_delete(self, key: str) -> bool:
        self._require("kv")
        _check_key(key)
        existed = self._kv_live(key) is not None
        self._kv.pop(key, None)
        return existed

    def kv_list_keys(self, prefix: str, limit: int) -> list[str]:
        self._require("kv")
        keys = sorted(k for k in self._kv if k.startswith(prefix) and self._kv_live(k) is not None)
        return keys[: min(limit, MAX_LIST_KEYS)]

    def kv_compare_and_set(
        self, key: str, expected: Optional[bytes], new: Optional[bytes], ttl_ms: Optional[int]
    ) -> bool:
        self._require("kv")
        _check_key(key)
        if new is not None:
            _check_value(new)
        current = self._kv_live(key)
        if (None if current is None else current.value) != expected:
            return False
        if new is None:
            self._kv.pop(key, None)
        else:
            self._kv[key] = _KvEntry(bytes(new), None if ttl_ms is None else self.now_ms + ttl_ms)
        return True

    def _visible(self, conversation: Conversation) -> bool:
        return self.acting_user is None or conversation.user_id == self.acting_user

    def _conversation(self, id: str) -> Conversation:
        for conversation in self.conversations:
            if conversation.id == id and self._visible(conversation):
                return conversation
        raise _not_found("conversation", id)

    def _live_message(self, id: str) -> int:
        for index, (message, deleted) in enumerate(self._messages):
            if message.id == id and not deleted:
                try:
                    self._conversation(message.conversation_id)
                except HostError:
                    break
                return index
        raise _not_found("message", id)

    def _own_message(self, index: int, verb: str) -> None:
        message = self._messages[index][0]
        if message.author != f"plugin:{self.plugin_id}":
            raise _error(
                ErrorKind.PERMISSION_DENIED,
                f"plugin `{self.plugin_id}` may {verb} only its own messages; `{message.id}` is by {message.author}",
            )

    def get_conversation(self, id: str) -> Conversation:
        self._require("channels.read")
        return self._conversation(id)

    def create_conversation(self, user_id: str, title: str) -> Conversation:
        self._require("channels.write")
        if self.acting_user is not None and self.acting_user != user_id:
            raise _error(
                ErrorKind.PERMISSION_DENIED, "a plugin acting for one user cannot create conversations for another"
            )
        if user_id not in self.users:
            raise _not_found("user", user_id)
        conversation = Conversation(self.new_id("conversation"), title, user_id, self.now_ms)
        self.conversations.append(conversation)
        return conversation

    def list_messages(self, conversation_id: str, limit: int) -> list[Message]:
        self._require("messages.read")
        self._conversation(conversation_id)
        live = self.messages(conversation_id)
        return live[max(0, len(live) - min(limit, 10_000)) :]

    def post_message(self, conversation_id: str, content: str) -> Message:
        self._require("messages.write")
        self._conversation(conversation_id)
        message = Message(
            self.new_id("message"), conversation_id, Role.ASSISTANT, f"plugin:{self.plugin_id}", content, self.now_ms
        )
        self._messages.append((message, False))
        self.posted.append(message)
        return message

    def edit_message(self, message_id: str, content: str) -> Message:
        self._require("messages.write")
        index = self._live_message(message_id)
        self._own_message(index, "edit")
        self._messages[index][0].content = content
        return self._messages[index][0]

    def delete_message(self, message_id: str) -> None:
        self._require("messages.write")
        index = self._live_message(message_id)
        self._own_message(index, "delete")
        self._messages[index] = (self._messages[index][0], True)

    def get_user(self, id: str) -> User:
        self._require("users.read")
        if id not in self.users:
            raise _not_found("user", id)
        return self.users[id]

    def read_file(self, id: str) -> File:
        self._require("files.read")
        for file in self.files:
            if file.id == id:
                try:
                    self._conversation(file.conversation_id)
                except HostError:
                    break
                return file
        raise _not_found("file", id)

    def write_file(self, conversation_id: str, name: str, media_type: str, data: bytes) -> str:
        self._require("files.write")
        self._conversation(conversation_id)
        id = self.new_id("file")
        self.files.append(File(id, conversation_id, name, media_type, bytes(data)))
        return id

    def http_fetch(self, request: HttpRequest) -> HttpResponse:
        self._require("network")
        check(self.plugin_id, self.allowed_hosts, request.uri)
        self.http_requests.append(request)
        for script in self._http:
            if script.url == request.uri and (script.method is None or script.method == request.method.upper()):
                answer = _next(script.answers)
                if isinstance(answer, HostError):
                    raise answer
                return answer
        raise _error(
            ErrorKind.UNAVAILABLE,
            f"the test gave no response for {request.method} {request.uri}; "
            f'script one with `host.http_response("{request.uri}", ...)`',
        )

    def ai_complete(self, request: CompletionRequest) -> Completion:
        self._require("ai")
        self.ai_requests.append(request)
        answer = _next(self._ai_answers)
        if answer is None:
            raise _error(ErrorKind.UNAVAILABLE, 'the test gave no model answer; script one with `host.ai_answer("..")`')
        if isinstance(answer, HostError):
            raise answer
        return answer

    def plugins_call_tool(self, plugin: str, tool: str, arguments: str) -> str:
        try:
            parsed = json.loads(arguments)
        except ValueError as error:
            raise _error(ErrorKind.INVALID_INPUT, f"tool arguments are not JSON: {error}") from error
        if not any(scripted == plugin for scripted, _ in self._tools):
            raise _error(
                ErrorKind.PERMISSION_DENIED,
                f"plugin `{self.plugin_id}` may only call plugins it depends on; add "
                f'`{plugin} = "<version range>"` to `[dependencies]` in plugin.toml, and script its tool '
                f'with `host.tool_result("{plugin}", "{tool}", ...)`',
            )
        self.tool_calls.append(ToolCallRecord(plugin, tool, parsed))
        answer = _next(self._tools.get((plugin, tool), deque()))
        if answer is None:
            raise _error(ErrorKind.NOT_FOUND, f"plugin `{plugin}` has no tool `{tool}`")
        if isinstance(answer, HostError):
            raise answer
        return answer

    def completion_emit(self, chunk: CompletionChunk) -> bool:
        if self._client_takes is not None and len(self.emitted) >= self._client_takes:
            return False
        self.emitted.append(chunk)
        return True
