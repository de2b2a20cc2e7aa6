//! The model's chat template (Jinja, from the GGUF) rendered with minijinja, and the
//! tool-call format it defines.

use candle_core::quantized::gguf_file::Content;
use minijinja::{Environment, ErrorKind, Value, context};
use plugboard_host::api::{CompletionMessage, Role, ToolCall, ToolSpec};
use serde::Serialize;
use serde_json::json;

use crate::error::LocalError;
use crate::model::metadata_string;
use crate::tokens::Tokens;

/// ChatML, for models whose GGUF carries no template.
const CHATML: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// Where a template's tool calls start and end (the Hermes format of Qwen and others).
pub(crate) const TOOL_CALL_OPEN: &str = "<tool_call>";
pub(crate) const TOOL_CALL_CLOSE: &str = "</tool_call>";

pub(crate) struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
    supports_tools: bool,
}

/// A rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prompt {
    /// The text given to the tokenizer.
    pub text: String,
    /// Messages left out, oldest first, so the prompt fits the context.
    pub trimmed_messages: usize,
}

impl ChatTemplate {
    pub(crate) fn from_gguf(content: &Content, tokens: &Tokens) -> Result<ChatTemplate, String> {
        let source = metadata_string(content, "tokenizer.chat_template").unwrap_or_else(|| CHATML.to_owned());
        ChatTemplate::new(source, tokens.bos.clone(), tokens.eos.clone())
    }

    pub(crate) fn new(source: String, bos: String, eos: String) -> Result<ChatTemplate, String> {
        let supports_tools = source.contains("tools") && source.contains(TOOL_CALL_OPEN);
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned("chat", source)
            .map_err(|error| format!("its chat template does not parse: {error:#}"))?;
        Ok(ChatTemplate { env, bos, eos, supports_tools })
    }

    pub(crate) fn supports_tools(&self) -> bool {
        self.supports_tools
    }

    /// The prompt for `messages`, ending where the assistant's reply starts.
    pub(crate) fn render(&self, messages: &[CompletionMessage], tools: &[ToolSpec]) -> Result<String, LocalError> {
        let messages: Vec<serde_json::Value> = messages.iter().map(message_json).collect();
        let tools: Vec<serde_json::Value> = tools
            .iter()
            .map(|tool| {
                json!({"type": "function", "function": {"name": tool.name, "description": tool.description,
                                                       "parameters": tool.parameters}})
            })
            .collect();
        let template = self.env.get_template("chat").map_err(|error| LocalError::Template(error.to_string()))?;
        let tools = (!tools.is_empty() && self.supports_tools).then_some(tools);
        template
            .render(context! {
                messages => messages,
                tools => tools,
                add_generation_prompt => true,
                bos_token => self.bos,
                eos_token => self.eos,
                // Qwen3's template: answer directly instead of thinking aloud first.
                enable_thinking => false,
            })
            .map_err(|error| LocalError::Template(format!("{error:#}")))
    }
}

fn message_json(message: &CompletionMessage) -> serde_json::Value {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut value = json!({"role": role, "content": message.content});
    if !message.tool_calls.is_empty() {
        value["tool_calls"] = message
            .tool_calls
            .iter()
            .map(|call| {
                let arguments: serde_json::Value =
                    serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!(call.arguments));
                json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}})
            })
            .collect();
    }
    if !message.tool_call_id.is_empty() {
        value["tool_call_id"] = json!(message.tool_call_id);
    }
    value
}

/// Splits generated text into what the user sees and the tool calls, as it streams: text
/// before a `<tool_call>` goes out at once; anything that might be the start of one is
/// held back until it is clear.
#[derive(Debug, Default)]
pub(crate) struct ToolCallSplitter {
    pending: String,
    calls: String,
    in_call: bool,
}

impl ToolCallSplitter {
    /// Takes more text; returns the part the user can see now.
    pub(crate) fn push(&mut self, text: &str) -> String {
        if self.in_call {
            self.calls.push_str(text);
            return String::new();
        }
        self.pending.push_str(text);
        if let Some(start) = self.pending.find(TOOL_CALL_OPEN) {
            self.in_call = true;
            self.calls = self.pending.split_off(start);
            return std::mem::take(&mut self.pending);
        }
        // Hold back a tail that could still grow into `<tool_call>`.
        let len = self.pending.len();
        let keep = (1..TOOL_CALL_OPEN.len())
            .rev()
            .find(|&n| {
                n <= len
                    && self.pending.is_char_boundary(len - n)
                    && TOOL_CALL_OPEN.starts_with(&self.pending[len - n..])
            })
            .unwrap_or(0);
        let tail = self.pending.split_off(len - keep);
        std::mem::replace(&mut self.pending, tail)
    }

    /// Ends the text: what is still held back, and the tool calls found.
    pub(crate) fn finish(self) -> (String, Vec<ToolCall>) {
        if !self.in_call {
            return (self.pending, Vec::new());
        }
        let mut calls = Vec::new();
        let mut leftover = String::new();
        let mut rest = self.calls.as_str();
        while let Some(start) = rest.find(TOOL_CALL_OPEN) {
            leftover.push_str(rest[..start].trim());
            let body = &rest[start + TOOL_CALL_OPEN.len()..];
            let (inside, after) = match body.find(TOOL_CALL_CLOSE) {
                Some(end) => (&body[..end], &body[end + TOOL_CALL_CLOSE.len()..]),
                None => (body, ""),
            };
            match parse_call(inside.trim(), calls.len()) {
                Some(call) => calls.push(call),
                None => leftover.push_str(&rest[start..rest.len() - after.len()]),
            }
            rest = after;
        }
        leftover.push_str(rest.trim());
        (leftover, calls)
    }
}

/// `{"name": …, "arguments": {…}}` as a tool call.
fn parse_call(body: &str, index: usize) -> Option<ToolCall> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let name = value.get("name")?.as_str()?.to_owned();
    let arguments = match value.get("arguments") {
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(arguments) => arguments.to_string(),
        None => "{}".into(),
    };
    Some(ToolCall { id: format!("call_{index}"), name, arguments })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&str]) -> (String, String, Vec<ToolCall>) {
        let mut splitter = ToolCallSplitter::default();
        let mut seen = String::new();
        for chunk in chunks {
            seen.push_str(&splitter.push(chunk));
        }
        let (rest, calls) = splitter.finish();
        (seen, rest, calls)
    }

    #[test]
    fn text_without_calls_streams_whole() {
        let (seen, rest, calls) = split(&["Hello <", "b>world</b> a<tool", "s are nice"]);
        assert_eq!(format!("{seen}{rest}"), "Hello <b>world</b> a<tools are nice");
        assert!(calls.is_empty());
    }

    #[test]
    fn a_call_split_over_chunks_is_held_back_and_parsed() {
        let (seen, rest, calls) = split(&[
            "Let me check.",
            "<tool",
            "_call>\n{\"name\": \"add\", ",
            "\"arguments\": {\"a\": 1}}\n</tool_call>",
        ]);
        assert_eq!(seen, "Let me check.");
        assert_eq!(rest, "");
        assert_eq!(calls, vec![ToolCall { id: "call_0".into(), name: "add".into(), arguments: "{\"a\":1}".into() }]);
    }

    #[test]
    fn a_malformed_call_stays_text() {
        let (seen, rest, calls) = split(&["<tool_call>not json</tool_call>"]);
        assert_eq!(seen, "");
        assert_eq!(rest, "<tool_call>not json</tool_call>");
        assert!(calls.is_empty());
    }
}
