"""The host services against the fake host: results, records and the server's refusals."""

import pytest

from plugboard_sdk import ErrorKind, HostError, Role, ai, chat, completion, http, kv, log, plugins, settings
from plugboard_sdk.testing import FakeHost


def test_without_a_fake_host_a_service_says_to_install_one():
    with pytest.raises(HostError) as raised:
        kv.get("x")
    assert raised.value.kind == ErrorKind.UNAVAILABLE
    assert "FakeHost" in raised.value.message and "kv.get" in raised.value.message


def test_a_service_without_its_permission_is_refused_naming_it():
    with FakeHost(permissions=["kv"], plugin_id="weather") as host:
        kv.set("k", "v")
        with pytest.raises(HostError) as raised:
            chat.post_message("c1", "hi")
        assert raised.value.kind == ErrorKind.PERMISSION_DENIED
        assert raised.value.message == (
            'plugin `weather` needs permission `messages.write` for this; add "messages.write" to `permissions` in plugin.toml'
        )
        with pytest.raises(HostError, match="needs permission `network`"):
            http.get("https://api.example.org/")
        with pytest.raises(HostError, match="needs permission `ai`"):
            ai.ask("hi")
        assert host.posted == []


def test_kv_stores_bytes_text_and_json_with_expiry_and_swaps():
    with FakeHost(permissions=["kv"]) as host:
        kv.set("a", b"\x00\x01")
        kv.set("b", "text", ttl_ms=1000)
        kv.set_json("c", {"n": 1})
        assert kv.get("a") == b"\x00\x01"
        assert kv.get_text("b") == "text"
        assert kv.get_json("c") == {"n": 1}
        assert kv.get_json("missing", 0) == 0
        assert kv.list_keys() == ["a", "b", "c"]
        host.advance(seconds=1)
        assert kv.get("b") is None
        assert kv.compare_and_set("c", '{"n": 1}', '{"n": 2}')
        assert not kv.compare_and_set("c", '{"n": 1}', '{"n": 3}')
        assert kv.compare_and_set("new", None, "1")
        assert kv.delete("a") and not kv.delete("a")
        assert host.kv_keys() == ["c", "new"]
        with pytest.raises(HostError) as raised:
            kv.set("", "v")
        assert raised.value.kind == ErrorKind.INVALID_INPUT


def test_chat_posts_lists_and_edits_only_its_own_messages():
    with FakeHost(plugin_id="bot") as host:
        host.add_user("u1", "Ada")
        host.add_conversation("c1", "u1", "Talk")
        theirs = host.add_message("c1", "hello")
        posted = chat.post_message("c1", "Weather: 3°C")
        assert posted.author == "plugin:bot" and posted.role == Role.ASSISTANT
        assert [m.content for m in chat.list_messages("c1", 10)] == ["hello", "Weather: 3°C"]
        assert chat.edit_message(posted.id, "Weather: 4°C").content == "Weather: 4°C"
        with pytest.raises(HostError, match="only its own messages"):
            chat.delete_message(theirs.id)
        chat.delete_message(posted.id)
        assert [m.content for m in host.messages("c1")] == ["hello"]
        assert [m.content for m in host.posted] == ["Weather: 4°C"]
        assert chat.get_user("u1").display_name == "Ada"
        assert chat.create_conversation("u1", "New").id == "conversation-3"
        with pytest.raises(HostError) as raised:
            chat.get_conversation("nope")
        assert raised.value.kind == ErrorKind.NOT_FOUND


def test_a_plugin_acting_for_a_user_sees_only_their_conversations_and_files():
    with FakeHost(acting_user="u1") as host:
        host.add_conversation("mine", "u1")
        host.add_conversation("theirs", "u2")
        host.add_file("f1", "theirs", "a.txt", "text/plain", "secret")
        assert chat.get_conversation("mine").id == "mine"
        with pytest.raises(HostError, match="no conversation `theirs`"):
            chat.get_conversation("theirs")
        with pytest.raises(HostError, match="no file `f1`"):
            chat.read_file("f1")
        file_id = chat.write_file("mine", "b.txt", "text/plain", "hi")
        assert chat.read_file(file_id).text() == "hi"


def test_http_answers_scripted_urls_of_allowed_hosts():
    with FakeHost(permissions=["network"], allowed_hosts=["api.example.org", "127.0.0.1:*"]) as host:
        host.http_response("https://api.example.org/now?city=Oslo", json={"temperature": 3})
        host.http_response("http://127.0.0.1:8080/x", 201, body="made", method="POST")
        response = http.get("https://api.example.org/now?city=Oslo")
        assert response.status == 200 and response.ok and response.json() == {"temperature": 3}
        assert response.header("Content-Type") == "application/json"
        created = http.post("http://127.0.0.1:8080/x", json={"a": 1})
        assert (created.status, created.text()) == (201, "made")
        assert host.http_requests[1].header("content-type") == "application/json"
        assert host.http_requests[1].json() == {"a": 1}
        with pytest.raises(HostError, match="no response for GET https://api.example.org/other"):
            http.get("https://api.example.org/other")


def test_http_refuses_hosts_and_ports_the_manifest_does_not_allow():
    with FakeHost(permissions=["network"], allowed_hosts=["api.example.org"], plugin_id="p") as host:
        with pytest.raises(HostError) as raised:
            http.get("https://evil.example.com/")
        assert raised.value.kind == ErrorKind.PERMISSION_DENIED
        assert "add it to `[network] allowed_hosts` in plugin.toml" in raised.value.message
        with pytest.raises(HostError, match=r"add `api.example.org:8443` \(or `api.example.org:\*`\)"):
            http.get("https://api.example.org:8443/")
        with pytest.raises(HostError, match="not an absolute URL"):
            http.get("api.example.org/x")
        assert host.http_requests == []


def test_allowed_host_entries_match_as_the_servers():
    from plugboard_sdk.testing._network import HostPattern, check

    def allows(entries, uri):
        try:
            check("p", [HostPattern.parse(e) for e in entries], uri)
            return True
        except HostError:
            return False

    assert allows(["api.example.org"], "http://API.example.org")
    assert allows(["*.example.org"], "https://a.b.example.org/")
    assert not allows(["*.example.org"], "https://example.org/")
    assert not allows(["api.example.org"], "https://api.example.org@evil.org/")
    assert allows(["[::1]:8080"], "http://[::1]:8080/x")
    assert not allows(["api.example.org"], "ftp://api.example.org/")
    with pytest.raises(ValueError, match="is a URL"):
        HostPattern.parse("https://example.org")


def test_http_errors_are_scripted_too():
    with FakeHost(allowed_hosts=["api.example.org"]) as host:
        host.http_error("https://api.example.org/", ErrorKind.TIMEOUT, "took too long")
        with pytest.raises(HostError) as raised:
            http.get("https://api.example.org/")
        assert raised.value.kind == ErrorKind.TIMEOUT


def test_ai_answers_in_order_the_last_repeating():
    with FakeHost() as host:
        host.ai_answer("one").ai_answer("two")
        assert [ai.ask("q") for _ in range(3)] == ["one", "two", "two"]
        assert host.ai_requests[0].messages[0].content == "q"


def test_other_plugins_tools_only_of_dependencies():
    with FakeHost() as host:
        host.tool_result("calculator", "add", {"sum": 5})
        assert plugins.call_tool_json("calculator", "add", {"a": 2, "b": 3}) == {"sum": 5}
        assert host.tool_calls[0].arguments == {"a": 2, "b": 3}
        with pytest.raises(HostError, match=r"add `other = \"<version range>\"` to `\[dependencies\]`"):
            plugins.call_tool("other", "x")


def test_completion_chunks_stop_when_the_client_leaves():
    with FakeHost() as host:
        host.client_leaves_after(2)
        assert [completion.emit_text(t) for t in "abc"] == [True, True, False]
        assert [chunk.text for chunk in host.emitted] == ["a", "b"]


def test_settings_and_logs():
    with FakeHost(settings={"greeting": "Hi"}) as host:
        assert settings.current() == {"greeting": "Hi"}
        log.warn("careful")
        assert host.logged("warn", "careful")
        with pytest.raises(ValueError, match="unknown log level"):
            log.write("loud", "x")


def test_the_fake_installed_before_comes_back():
    outer = FakeHost(settings={"n": 1}).install()
    try:
        with FakeHost(settings={"n": 2}):
            assert settings.current()["n"] == 2
        assert settings.current()["n"] == 1
    finally:
        outer.uninstall()


def test_a_fake_host_from_the_manifest_grants_what_the_server_would(tmp_path):
    manifest = tmp_path / "plugin.toml"
    manifest.write_text(
        'id = "weather"\npermissions = ["network"]\n'
        '[network]\nallowed_hosts = ["api.example.org"]\n'
        '[settings.properties.city]\ntype = "string"\ndefault = "Oslo"\n'
        '[settings.properties.units]\ntype = "string"\ndefault = "metric"\n'
    )
    with FakeHost.from_manifest(manifest, settings={"units": "imperial"}) as host:
        assert settings.current() == {"city": "Oslo", "units": "imperial"}
        host.http_response("https://api.example.org/", body="ok")
        assert http.get("https://api.example.org/").text() == "ok"
        with pytest.raises(HostError, match='plugin `weather` needs permission `kv`'):
            kv.get("x")
