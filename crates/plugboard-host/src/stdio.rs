//! Plugin stdout and stderr: each line goes to the log tagged with the plugin id, and the
//! end of stderr is kept so a panic message can be reported with the trap.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use plugboard_manifest::PluginId;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line logged; the rest is cut.
const MAX_LINE: usize = 4096;
/// How much of stderr is kept for panic messages.
const TAIL: usize = 2048;

/// `text` fit for one log line: each control character escaped (`\n` as `\\n`, `\r` as
/// `\\r`, `\t` as `\\t`, others as `\\u{…}`), so what a plugin writes can never start a
/// line of its own that reads as the server's, nor move the cursor of a terminal.
pub(crate) fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() => escaped.extend(c.escape_unicode()),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum StreamName {
    Stdout,
    Stderr,
}

#[derive(Debug, Default)]
struct Buffers {
    partial: Vec<u8>,
    tail: String,
}

/// One of a plugin instance's output streams.
#[derive(Debug, Clone)]
pub(crate) struct LogStream {
    plugin: PluginId,
    name: StreamName,
    buffers: Arc<Mutex<Buffers>>,
}

impl LogStream {
    pub(crate) fn new(plugin: PluginId, name: StreamName) -> LogStream {
        LogStream { plugin, name, buffers: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffers> {
        self.buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self, bytes: &[u8]) {
        let mut buffers = self.lock();
        buffers.partial.extend_from_slice(bytes);
        while let Some(end) = buffers.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffers.partial.drain(..=end).collect();
            self.emit(&mut buffers, &line[..line.len() - 1]);
        }
        if buffers.partial.len() > MAX_LINE {
            let line = std::mem::take(&mut buffers.partial);
            self.emit(&mut buffers, &line);
        }
    }

    fn emit(&self, buffers: &mut Buffers, line: &[u8]) {
        let text = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
        let logged = escape_control(&text);
        match self.name {
            StreamName::Stdout => {
                tracing::info!(target: "plugboard::plugin", plugin = %self.plugin, stream = "stdout", "{logged}")
            }
            StreamName::Stderr => {
                tracing::warn!(target: "plugboard::plugin", plugin = %self.plugin, stream = "stderr", "{logged}");
                buffers.tail.push_str(&text);
                buffers.tail.push('\n');
                if buffers.tail.len() > TAIL {
                    let mut cut = buffers.tail.len() - TAIL;
                    while !buffers.tail.is_char_boundary(cut) {
                        cut += 1;
                    }
                    buffers.tail.drain(..cut);
                }
            }
        }
    }

    /// Forgets what was kept, before a new call.
    pub(crate) fn clear_tail(&self) {
        self.lock().tail.clear();
    }

    /// The panic message printed by a Rust guest since the last `clear_tail`, if any.
    pub(crate) fn panic_message(&self) -> Option<String> {
        let mut buffers = self.lock();
        if !buffers.partial.is_empty() {
            let line = std::mem::take(&mut buffers.partial);
            self.emit(&mut buffers, &line);
        }
        let tail = &buffers.tail;
        let start = tail.rfind("panicked at ")?;
        // `thread '<unnamed>' panicked at src/lib.rs:9:9:\n<message>\nnote: run with ...`
        let after = &tail[start..];
        let (location, rest) = after.split_once('\n').unwrap_or((after, ""));
        let location = location.trim_start_matches("panicked at ").trim_end_matches(':');
        let message: Vec<&str> = rest.lines().take_while(|line| !line.starts_with("note: ")).collect();
        Some(format!("{} (at {location})", message.join("\n").trim()))
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        self.write(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::escape_control;

    #[test]
    fn control_characters_are_escaped_and_other_text_is_kept() {
        assert_eq!(escape_control("plain, naïve 😀 text"), "plain, naïve 😀 text");
        assert_eq!(
            escape_control("ok\n2026-12-06T00:00:00Z ERROR forged\r\t\u{1b}[2J\u{0}"),
            "ok\\n2026-12-06T00:00:00Z ERROR forged\\r\\t\\u{1b}[2J\\u{0}"
        );
    }
}
