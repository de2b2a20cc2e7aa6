"""Tests of {{title}}, run in plain Python by `plugboard plugin test` (pytest). The hooks
use host services, so each test installs `plugboard_sdk.testing.FakeHost`: an in-memory
host whose settings, key-value store, chat data, HTTP responses and model answers the
test sets, and whose records show what the plugin did."""

from pathlib import Path

import pytest

from plugboard_sdk import ErrorKind, HostError, Hook, PluginError, kv
from plugboard_sdk.testing import FakeHost, HookFailed, context

from plugin import Greeter, greet

# The fake host grants what plugin.toml asks for, and starts with its settings' defaults.
MANIFEST = Path(__file__).resolve().parent.parent / "plugin.toml"


def test_greets_by_name():
    assert greet("Hello", " Ada ") == "Hello, Ada!"


def test_an_empty_name_is_an_error():
    with pytest.raises(PluginError):
        greet("Hello", "")


def test_the_tool_counts_greetings_in_the_key_value_store():
    # Any host service plugin.toml does not ask for is refused, as on a server.
    with FakeHost.from_manifest(MANIFEST) as host:
        plugin = host.init(Greeter)
        ada = {"name": "Ada"}

        assert plugin.call_tool(context("u1"), "greet", ada) == "Hello, Ada!"
        assert plugin.call_tool(context("u1"), "greet", ada) == "Hello again, Ada! (2 greetings)"
        assert host.kv_json("greeted:Ada") == 2


def test_the_command_uses_the_greeting_setting():
    with FakeHost.from_manifest(MANIFEST, settings={"greeting": "Hi"}) as host:
        plugin = host.init(Greeter)

        assert plugin.run_command(context("u1", "c1"), "greet", "Bo") == "Hi, Bo!"
        assert host.kv_keys() == ["greeted:Bo"]


def test_without_the_kv_permission_the_command_fails_with_the_hosts_reason():
    with FakeHost(permissions=[]) as host:
        # Loaded as the host loads it: an exception becomes the command's error message.
        plugin = host.load(Greeter)

        with pytest.raises(HookFailed, match="needs permission `kv`"):
            plugin.run_command(context("u1", "c1"), "greet", "Ada")
        with pytest.raises(HostError) as refused:
            kv.get("x")
        assert refused.value.kind == ErrorKind.PERMISSION_DENIED


def test_the_host_calls_only_the_hooks_it_implements():
    with FakeHost.from_manifest(MANIFEST) as host:
        plugin = host.load(Greeter)

        assert set(plugin.implemented_hooks()) == {Hook.TOOLS, Hook.COMMANDS, Hook.HEALTH, Hook.SELF_TEST}
        assert all(result.passed for result in plugin.self_test())
