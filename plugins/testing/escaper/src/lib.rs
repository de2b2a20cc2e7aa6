//! Test fixture: tries every way out of the sandbox that WASI offers a Rust program and
//! reports what happened to each attempt, as a JSON object of `"ok: …"` / `"error: …"`.

use std::io::Read;

use plugboard_sdk::serde_json::{Map, Value};
use plugboard_sdk::{CallContext, Plugin, Settings, export_plugin};

struct Escaper;

fn outcome<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>) -> Value {
    Value::String(match result {
        Ok(value) => format!("ok: {value:?}"),
        Err(error) => format!("error: {error}"),
    })
}

impl Plugin for Escaper {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Escaper)
    }

    fn call_tool(&mut self, _context: &CallContext, name: &str, arguments: Value) -> Result<String, String> {
        if name == "print" {
            println!("escaper says hello on stdout");
            eprintln!("escaper says hello on stderr");
            return Ok("printed".into());
        }
        let target = arguments.get("address").and_then(Value::as_str).unwrap_or("127.0.0.1:9").to_owned();
        let mut report = Map::new();
        report.insert("read_file".into(), outcome(std::fs::read_to_string("/etc/passwd")));
        report.insert("read_dir".into(), outcome(std::fs::read_dir(".").map(|entries| entries.count())));
        report.insert("write_file".into(), outcome(std::fs::write("escaped.txt", b"x")));
        let env: Vec<(String, String)> = std::env::vars().collect();
        report.insert("env_vars".into(), Value::String(format!("{} variables", env.len())));
        report.insert("env_home".into(), outcome(std::env::var("HOME")));
        report.insert("args".into(), Value::String(format!("{} arguments", std::env::args().count())));
        report.insert(
            "tcp_connect".into(),
            outcome(std::net::TcpStream::connect(&target).and_then(|mut stream| {
                let mut buffer = [0u8; 16];
                stream.read(&mut buffer)
            })),
        );
        report.insert("tcp_listen".into(), outcome(std::net::TcpListener::bind("127.0.0.1:0").map(|l| l.local_addr())));
        report.insert("udp_bind".into(), outcome(std::net::UdpSocket::bind("127.0.0.1:0").map(|s| s.local_addr())));
        report.insert(
            "dns_lookup".into(),
            outcome(std::net::ToSocketAddrs::to_socket_addrs("localhost:80").map(|addresses| addresses.count())),
        );
        Ok(Value::Object(report).to_string())
    }
}

export_plugin!(Escaper, hooks: [Tools]);
