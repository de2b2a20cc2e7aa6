//! A native build with no fake host installed: host calls fail the one call (or the one
//! test) with an error that says to install `plugboard_sdk::testing::FakeHost`; nothing
//! aborts the test binary.

use plugboard_sdk::{ErrorKind, Settings, chat, http, kv, log};

const ADVICE: &str = "let host = plugboard_sdk::testing::FakeHost::new().install();";

#[test]
fn a_host_call_without_the_test_kit_returns_an_error_saying_to_install_it() {
    let error = kv::get("counter").unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(error.message.contains("`plugboard_sdk::kv::get` needs the Plugboard host"), "{}", error.message);
    assert!(error.message.contains(ADVICE), "{}", error.message);
    assert!(chat::post_message("c1", "hi").unwrap_err().message.contains(ADVICE));
    assert!(http::get("https://example.org/").unwrap_err().message.contains("`plugboard_sdk::http::fetch`"));
}

#[test]
#[should_panic(expected = "`plugboard_sdk::log` needs the Plugboard host")]
fn logging_without_the_test_kit_fails_the_test_with_the_same_advice() {
    log::info("no host here");
}

#[test]
#[should_panic(expected = "plugboard_sdk::testing::FakeHost::new().install()")]
fn reading_the_settings_without_the_test_kit_fails_the_test_with_the_same_advice() {
    let _ = Settings::current();
}

#[test]
fn the_kit_installed_on_one_thread_serves_that_thread_only() {
    let host = plugboard_sdk::testing::FakeHost::new().install();
    kv::set("here", b"yes").unwrap();
    let elsewhere = std::thread::spawn(|| kv::get("here").map_err(|error| error.message)).join().unwrap();
    assert!(elsewhere.unwrap_err().contains(ADVICE));
    assert_eq!(host.kv_string("here").as_deref(), Some("yes"));
}
