//! `[[mcp_servers]]` in the configuration file: an entry with a bad field stops `serve`
//! before it listens, naming the entry and the field.

use std::time::{Duration, Instant};

use crate::plugboard;

/// Runs `plugboard serve` in `dir` and waits (at most 60 s) for it to stop; its standard
/// error. A server that keeps running fails the test.
fn serve_refuses(dir: &tempfile::TempDir) -> String {
    let mut child = plugboard(dir)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("serve kept running with an invalid [[mcp_servers]] entry");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    stderr
}

#[test]
fn an_mcp_server_entry_with_a_bad_field_stops_serve_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugboard.toml");
    std::fs::write(
        &config,
        "[[mcp_servers]]\nname = \"files\"\ntransport = \"stdio\"\ncommand = \"npx\"\n\n\
         [[mcp_servers]]\nname = \"remote\"\ntransport = \"http\"\nurl = \"ftp://example.org/mcp\"\n",
    )
    .unwrap();
    let stderr = serve_refuses(&dir);
    assert!(
        stderr.contains(
            "plugboard.toml: [[mcp_servers]] entry 2 (`remote`): `url` must be an http:// or https:// address"
        ),
        "{stderr}"
    );

    // The same name twice.
    std::fs::write(
        &config,
        "[[mcp_servers]]\nname = \"files\"\ntransport = \"stdio\"\ncommand = \"npx\"\n\n\
         [[mcp_servers]]\nname = \"files\"\ntransport = \"stdio\"\ncommand = \"uvx\"\n",
    )
    .unwrap();
    let stderr = serve_refuses(&dir);
    assert!(stderr.contains("[[mcp_servers]] entry 2 (`files`): `name` is taken by entry 1"), "{stderr}");

    // A field that is not one: named by the file's reader, with its line.
    std::fs::write(&config, "[[mcp_servers]]\nname = \"files\"\ntransport = \"stdio\"\ncomand = \"npx\"\n").unwrap();
    let stderr = serve_refuses(&dir);
    assert!(stderr.contains("plugboard.toml") && stderr.contains("comand"), "{stderr}");
}
