"""The weather handler against the SDK's fake host, with the permissions, allowed hosts
and settings of its plugin.toml: the weather API's answers are scripted per URL."""

from pathlib import Path

from plugboard_sdk import ErrorKind, Hook, MessageReceived
from plugboard_sdk.testing import FakeHost, context

from plugin import MessageHandler, requested_place

MANIFEST = Path(__file__).resolve().parent.parent / "plugin.toml"
API = "https://api.weather.com/v1/current"


def weather_host(**options):
    host = FakeHost.from_manifest(MANIFEST, **options)
    host.add_user("u1", "Ada")
    host.add_conversation("c1", "u1", "Chat")
    return host


def say(host, plugin, content):
    """A user's message arrives, as the host tells it: stored, then message-received."""
    message = host.add_message("c1", content)
    plugin.on_event(context("u1", "c1"), MessageReceived(message))


def test_the_trigger_names_the_place():
    assert requested_place("!weather Oslo", "New York") == "Oslo"
    assert requested_place("what is the !weather  New York \nthanks", "x") == "New York"
    assert requested_place("!weather", "New York") == "New York"
    assert requested_place("nice weather today", "New York") is None


def test_posts_the_weather_for_the_place_asked():
    with weather_host() as host:
        host.http_response(f"{API}?location=Oslo", json={"temperature": 22.5, "description": "Sunny"})
        say(host, host.load(MessageHandler), "!weather Oslo")

        assert [m.content for m in host.posted] == ["Weather: 22.5°C, Sunny"]
        assert host.posted[0].conversation_id == "c1"
        assert host.posted[0].author == "plugin:python-weather"
        assert [r.method for r in host.http_requests] == ["GET"]


def test_places_are_escaped_in_the_url_and_a_bare_trigger_uses_the_default():
    with weather_host() as host:
        host.http_response(f"{API}?location=New%20York", json={"temperature": 3, "description": "Snow"})
        plugin = host.load(MessageHandler)
        say(host, plugin, "!weather New York")
        say(host, plugin, "!weather")

        assert [m.content for m in host.posted] == ["Weather: 3°C, Snow", "Weather: 3°C, Snow"]


def test_other_messages_are_left_alone():
    with weather_host() as host:
        say(host, host.load(MessageHandler), "how is the weather?")
        assert host.posted == [] and host.http_requests == []


def test_the_api_url_is_a_setting_so_a_local_server_can_answer():
    local = "http://127.0.0.1:8080/v1/current"
    with weather_host(settings={"weather_url": local}) as host:
        host.http_response(f"{local}?location=Bergen", json={"temperature": 9, "description": "Rain"})
        say(host, host.load(MessageHandler), "!weather Bergen")
        assert host.posted[0].content == "Weather: 9°C, Rain"


def test_a_host_outside_allowed_hosts_is_refused_and_the_user_told():
    with weather_host(settings={"weather_url": "https://weather.example.org/now"}) as host:
        say(host, host.load(MessageHandler), "!weather Oslo")

        assert host.posted[0].content == "Weather: not available for Oslo right now"
        assert host.logged("warn", "permission-denied")
        assert host.logged("warn", "add it to `[network] allowed_hosts` in plugin.toml")
        assert host.http_requests == []


def test_api_failures_are_logged_and_the_user_told():
    with weather_host() as host:
        host.http_error(f"{API}?location=Oslo", ErrorKind.TIMEOUT, "no answer in 5 s")
        host.http_response(f"{API}?location=Atlantis", 404, body="no such place")
        host.http_response(f"{API}?location=Rome", json={"temp": 30})
        plugin = host.load(MessageHandler)
        say(host, plugin, "!weather Oslo")
        say(host, plugin, "!weather Atlantis")
        say(host, plugin, "!weather Rome")

        assert [m.content for m in host.posted] == [
            "Weather: not available for Oslo right now",
            "Weather: unknown for Atlantis",
            "Weather: not available for Rome right now",
        ]
        assert host.logged("warn", "timeout: no answer in 5 s")
        assert host.logged("warn", "answered 404 for Atlantis")


def test_without_messages_write_the_refusal_is_logged():
    with weather_host(permissions=["network"]) as host:
        host.http_response(f"{API}?location=Oslo", json={"temperature": 1, "description": "Fog"})
        say(host, host.load(MessageHandler), "!weather Oslo")

        assert host.posted == []
        assert host.logged("error", "needs permission `messages.write`")


def test_the_host_calls_only_the_events_hook():
    with weather_host() as host:
        assert host.load(MessageHandler).implemented_hooks() == [Hook.EVENTS]
