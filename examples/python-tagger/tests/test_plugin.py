"""The tagger against the SDK's fake host, with the permissions and settings of its
plugin.toml."""

from pathlib import Path

from plugboard_sdk import Conversation, ConversationEnded, ConversationStarted, Hook, HealthStatus
from plugboard_sdk.testing import FakeHost, context

from plugin import ExamplePlugin

MANIFEST = Path(__file__).resolve().parent.parent / "plugin.toml"


def test_prompts_and_replies_are_tagged():
    with FakeHost.from_manifest(MANIFEST) as host:
        plugin = host.init(ExamplePlugin)
        assert plugin.before_prompt(context("u1", "c1"), "hello") == "[tagged] hello"
        assert plugin.after_response(context("u1", "c1"), "hi there") == "hi there\n\n[tagged]"


def test_the_tag_is_a_setting():
    with FakeHost.from_manifest(MANIFEST, settings={"tag": "demo"}) as host:
        outcome = host.load(ExamplePlugin).before_prompt(context("u1", "c1"), "hello")
        assert (outcome.kind, outcome.text) == ("rewrite", "[demo] hello")


def test_sessions_are_counted_as_conversations_start_and_end():
    with FakeHost.from_manifest(MANIFEST) as host:
        plugin = host.load(ExamplePlugin)
        first, second = Conversation("c1", "Plans", "u1"), Conversation("c2", "Ideas", "u1")
        plugin.on_event(context("u1", "c1"), ConversationStarted(first))
        plugin.on_event(context("u1", "c2"), ConversationStarted(second))
        plugin.on_event(context("u1", "c1"), ConversationEnded(first))

        assert (host.kv_text("sessions:started"), host.kv_text("sessions:ended")) == ("2", "1")
        assert host.logged("info", "session c2 started (2 so far): Ideas")
        assert host.logged("info", "session c1 ended (1 so far)")
        health = plugin.health()
        assert health.status == HealthStatus.HEALTHY
        assert health.message == "2 sessions started, 1 ended"


def test_a_count_kept_by_another_instance_goes_on():
    with FakeHost.from_manifest(MANIFEST) as host:
        host.set_kv("sessions:started", "41")
        host.init(ExamplePlugin).on_conversation_started(context("u1", "c9"), Conversation("c9", "", "u1"))
        assert host.kv_text("sessions:started") == "42"


def test_the_host_calls_the_filters_events_and_health():
    with FakeHost.from_manifest(MANIFEST) as host:
        hooks = host.load(ExamplePlugin).implemented_hooks()
        assert hooks == [Hook.HEALTH, Hook.BEFORE_PROMPT, Hook.AFTER_RESPONSE, Hook.EVENTS]
