"""How a Plugin subclass is called: which hooks it implements, and what its return
values and exceptions become for the host."""

import json

import pytest

from plugboard_sdk import (
    CallContext,
    ConversationStarted,
    Conversation,
    ExportFile,
    HealthReport,
    HealthStatus,
    Hook,
    HttpRequest,
    HttpResponse,
    Message,
    MessageReceived,
    Plugin,
    PluginError,
    Reject,
    Role,
    SelfTestResult,
    ToolSpec,
    UserDeleted,
    Account,
    export,
    log,
    reject,
)
from plugboard_sdk._glue import implemented_hooks
from plugboard_sdk.testing import FakeHost, HookFailed, context


class Quiet(Plugin):
    pass


class Tagger(Plugin):
    def before_prompt(self, context, prompt):
        if "secret" in prompt:
            raise Reject("no secrets")
        if prompt == "same":
            return None
        return f"[tag] {prompt}"

    def after_response(self, context, response):
        return reject("withheld") if response == "bad" else None

    def on_conversation_started(self, context, conversation):
        log.info(f"started {conversation.id}")


class Tools(Plugin):
    def tools(self):
        return [ToolSpec("add", "Adds", {"type": "object"})]

    def call_tool(self, context, name, arguments):
        if name == "add":
            return {"sum": arguments["a"] + arguments["b"]}
        if name == "text":
            return "plain"
        if name == "broken":
            return {}["missing"]
        return super().call_tool(context, name, arguments)

    def run_command(self, context, name, arguments):
        if not arguments:
            raise ValueError("say who")
        return f"hi {arguments}"


def test_a_plugin_that_overrides_nothing_implements_no_optional_hook():
    assert implemented_hooks(Quiet) == []


def test_implemented_hooks_are_the_overridden_ones():
    assert implemented_hooks(Tagger) == [Hook.BEFORE_PROMPT, Hook.AFTER_RESPONSE, Hook.EVENTS]
    assert implemented_hooks(Tools) == [Hook.TOOLS, Hook.COMMANDS]


def test_account_event_methods_count_as_the_events_hook():
    class Forgetful(Plugin):
        def on_user_deleted(self, context, account):
            pass

    assert implemented_hooks(Forgetful) == [Hook.EVENTS]


def test_filters_keep_rewrite_and_reject():
    with FakeHost() as host:
        plugin = host.load(Tagger)
        ctx = context("u1", "c1")
        assert plugin.before_prompt(ctx, "same").kind == "keep"
        outcome = plugin.before_prompt(ctx, "hello")
        assert (outcome.kind, outcome.text) == ("rewrite", "[tag] hello")
        outcome = plugin.before_prompt(ctx, "my secret")
        assert (outcome.kind, outcome.text) == ("reject", "no secrets")
        outcome = plugin.after_response(ctx, "bad")
        assert (outcome.kind, outcome.text) == ("reject", "withheld")


def test_events_reach_the_method_named_after_them():
    with FakeHost() as host:
        plugin = host.load(Tagger)
        plugin.on_event(context(), ConversationStarted(Conversation("c9", "Hello", "u1")))
        plugin.on_event(context(), MessageReceived(Message("m1", "c9", Role.USER, "user:u1", "hi")))
        assert host.logged("info", "started c9")


def test_account_events_reach_the_method_named_after_them():
    seen = []

    class Forgetful(Plugin):
        def on_user_deleted(self, context, account):
            seen.append(account.id)

    with FakeHost() as host:
        host.load(Forgetful).on_account_event(context("u7"), UserDeleted(Account("u7", "ada")))
    assert seen == ["u7"]


def test_tool_results_are_text_and_other_values_json():
    with FakeHost() as host:
        plugin = host.load(Tools)
        assert json.loads(plugin.call_tool(context(), "add", {"a": 2, "b": 3})) == {"sum": 5}
        assert plugin.call_tool(context(), "text", {}) == "plain"
        assert plugin.list_tools()[0].parameters == {"type": "object"}


def test_tool_and_command_errors_become_the_calls_error_message():
    with FakeHost() as host:
        plugin = host.load(Tools)
        with pytest.raises(HookFailed, match="^unknown tool `nope`$"):
            plugin.call_tool(context(), "nope", {})
        with pytest.raises(HookFailed, match="^say who$"):
            plugin.run_command(context(), "greet", "")
        with pytest.raises(HookFailed, match="the arguments are not valid JSON"):
            plugin.call_tool(context(), "add", "{not json")


def test_an_unexpected_exception_names_its_type_and_logs_the_traceback():
    with FakeHost() as host:
        plugin = host.load(Tools)
        with pytest.raises(HookFailed, match="^KeyError: 'missing'$"):
            plugin.call_tool(context(), "broken", {})
        assert host.logged("error", "Traceback")
        assert host.logged("error", "hook `call-tool` raised")


def test_a_hook_without_an_error_channel_logs_and_raises_again():
    class Failing(Plugin):
        def before_prompt(self, context, prompt):
            raise RuntimeError("broken filter")

    with FakeHost() as host:
        plugin = host.load(Failing)
        with pytest.raises(RuntimeError, match="broken filter"):
            plugin.before_prompt(context(), "hi")
        assert host.logged("error", "RuntimeError: broken filter")


def test_init_gets_the_settings_and_its_error_refuses_them():
    class Configured(Plugin):
        def __init__(self, settings):
            super().__init__(settings)
            if settings.get("limit", 0) < 0:
                raise PluginError("limit must not be negative")

    with FakeHost(settings={"limit": 3}) as host:
        assert host.load(Configured).plugin.settings["limit"] == 3
    with FakeHost(settings={"limit": -1}) as host:
        with pytest.raises(HookFailed, match="^limit must not be negative$"):
            host.load(Configured)


def test_a_hook_before_init_is_a_clear_error():
    from plugboard_sdk._glue import Glue

    with pytest.raises(RuntimeError, match="before `init` succeeded"):
        Glue(Tagger).before_prompt(context(), "hi")


def test_health_and_self_test_accept_short_forms():
    class Checked(Plugin):
        def health(self):
            return "ready"

        def self_test(self):
            return [("adds", 1 + 1 == 2, "1 + 1"), SelfTestResult("subtracts", True)]

    with FakeHost() as host:
        plugin = host.load(Checked)
        assert plugin.health() == HealthReport(HealthStatus.HEALTHY, "ready", {})
        assert [r.name for r in plugin.self_test()] == ["adds", "subtracts"]
        assert plugin.implemented_hooks() == [Hook.HEALTH, Hook.SELF_TEST]


def test_request_filters_add_headers_or_refuse():
    class Gate(Plugin):
        def before_request(self, context, request):
            if request.uri.startswith("/api/admin"):
                raise Reject("admins only", status=403)
            return {"X-Checked": "yes"}

        def after_request(self, context, request, response):
            return {"x-served-by": "gate"}

    with FakeHost() as host:
        plugin = host.load(Gate)
        kind, response = plugin.before_request(context(), HttpRequest("GET", "/api/admin/users"))
        assert (kind, response.status, response.text()) == ("respond", 403, "admins only")
        kind, request = plugin.before_request(context(), HttpRequest("GET", "/api/chat", [("accept", "*/*")]))
        assert kind == "rewrite" and request.header("x-checked") == "yes" and request.header("accept") == "*/*"
        kind, response = plugin.after_request(context(), request, HttpResponse(200))
        assert kind == "rewrite" and response.headers == [("x-served-by", "gate")]


def test_routes_answer_text_and_json():
    class Api(Plugin):
        def handle_http(self, context, request):
            return {"path": request.uri} if request.uri == "/json" else "plain"

    with FakeHost() as host:
        plugin = host.load(Api)
        assert plugin.handle_http(context(), HttpRequest("GET", "/json")).json() == {"path": "/json"}
        assert plugin.handle_http(context(), HttpRequest("GET", "/x")).text() == "plain"


def test_a_provider_may_return_text_and_an_exporter_a_file():
    class Echo(Plugin):
        def complete(self, request):
            return request.messages[-1].content

        def export_conversation(self, format, conversation, messages):
            return ExportFile(f"{conversation.id}.txt", "text/plain", b"".join(m.content.encode() for m in messages))

    from plugboard_sdk import CompletionMessage, CompletionRequest

    with FakeHost() as host:
        plugin = host.load(Echo)
        done = plugin.complete(CompletionRequest("m", [CompletionMessage(Role.USER, "hi")]))
        assert done.content == "hi"
        file = plugin.export_conversation("txt", Conversation("c1", "t", "u"), [Message("m", "c1", Role.USER, "u", "a")])
        assert file.data == b"a"
        assert plugin.implemented_hooks() == [Hook.PROVIDER, Hook.EXPORTER]


def test_export_records_the_class_and_refuses_anything_else():
    class Exported(Plugin):
        pass

    assert export(Exported) is Exported
    with FakeHost() as host:
        assert isinstance(host.init(), Exported)
    with pytest.raises(TypeError, match="subclass of plugboard_sdk.Plugin"):
        export(object)


def test_call_context_defaults_are_empty():
    assert CallContext() == context(request_id="")
