//! The model's chat template (Jinja, from the GGUF) rendered with minijinja, and the
//! tool-call format it defines.

use candle_core::quantized::gguf_file::Content;
use minijinja::{Environment, ErrorKind, Value, context};
use plugboard_types::{CompletionMessage, Role, ToolCall, ToolSpec};
use serde::Serialize;
use serde_json::json;

use crate::error::LocalError;
use crate::gguf::metadata_string;
use crate::tokens::Tokens;

/// ChatML, for models whose GGUF carries no template.
const CHATML: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// Where a template's tool calls start and end (the Hermes format of Qwen and others).
pub(crate) const TOOL_CALL_OPEN: &str = "<tool_call>";
pub(crate) const TOOL_CALL_CLOSE: &str = "</tool_call>";

/// How a model writes tool calls, as its chat template shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolFormat {
    /// `<tool_call>{"name": …, "arguments": {…}}</tool_call>` anywhere in the reply
    /// (Hermes: Qwen 2 and 3, and others).
    Hermes,
    /// The whole reply is `{"name": …, "parameters": {…}}` (Llama 3.1 and 3.2), possibly
    /// several separated by `;`, possibly after Llama's `<|python_tag|>`.
    JsonObject,
}

impl ToolFormat {
    /// The format a template's source renders tool calls in, if any.
    fn of_template(source: &str) -> Option<ToolFormat> {
        if !source.contains("tools") {
            return None;
        }
        if source.contains(TOOL_CALL_OPEN) {
            Some(ToolFormat::Hermes)
        } else if source.contains("\"parameters\": ") && source.contains("tool_call") {
            Some(ToolFormat::JsonObject)
        } else {
            None
        }
    }
}

pub(crate) struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
    tool_format: Option<ToolFormat>,
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
        let tool_format = ToolFormat::of_template(&source);
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned("chat", source)
            .map_err(|error| format!("its chat template does not parse: {error:#}"))?;
        Ok(ChatTemplate { env, bos, eos, tool_format })
    }

    pub(crate) fn tool_format(&self) -> Option<ToolFormat> {
        self.tool_format
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
        let tools = (!tools.is_empty() && self.tool_format.is_some()).then_some(tools);
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

/// Splits generated text into what the user sees and the tool calls, as it streams, in
/// the model's format.
#[derive(Debug)]
pub(crate) enum ToolCallSplitter {
    /// Tools were not offered: everything is text.
    None,
    /// See [`HermesSplitter`].
    Hermes(HermesSplitter),
    /// See [`JsonObjectSplitter`].
    JsonObject(JsonObjectSplitter),
}

impl ToolCallSplitter {
    pub(crate) fn new(format: Option<ToolFormat>) -> ToolCallSplitter {
        match format {
            None => ToolCallSplitter::None,
            Some(ToolFormat::Hermes) => ToolCallSplitter::Hermes(HermesSplitter::default()),
            Some(ToolFormat::JsonObject) => ToolCallSplitter::JsonObject(JsonObjectSplitter::default()),
        }
    }

    /// Takes more text; returns the part the user can see now.
    pub(crate) fn push(&mut self, text: &str) -> String {
        match self {
            ToolCallSplitter::None => text.to_owned(),
            ToolCallSplitter::Hermes(splitter) => splitter.push(text),
            ToolCallSplitter::JsonObject(splitter) => splitter.push(text),
        }
    }

    /// Ends the text: what is still held back, and the tool calls found.
    pub(crate) fn finish(self) -> (String, Vec<ToolCall>) {
        match self {
            ToolCallSplitter::None => (String::new(), Vec::new()),
            ToolCallSplitter::Hermes(splitter) => splitter.finish(),
            ToolCallSplitter::JsonObject(splitter) => splitter.finish(),
        }
    }
}

/// The Hermes format: text before a `<tool_call>` goes out at once; anything that might
/// be the start of one is held back until it is clear.
#[derive(Debug, Default)]
pub(crate) struct HermesSplitter {
    pending: String,
    calls: String,
    in_call: bool,
}

impl HermesSplitter {
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

/// Llama's marker before a call (a special token, usually not shown as text).
const PYTHON_TAG: &str = "<|python_tag|>";

/// The JSON-object format: a reply that starts with `{` (after white space or Llama's
/// `<|python_tag|>`) is held back whole and read as calls when it ends; any other reply
/// streams as text at once.
#[derive(Debug, Default)]
pub(crate) struct JsonObjectSplitter {
    held: String,
    /// Decided: `Some(true)` holding a call, `Some(false)` plain text.
    calls: Option<bool>,
}

impl JsonObjectSplitter {
    fn push(&mut self, text: &str) -> String {
        match self.calls {
            Some(false) => return text.to_owned(),
            Some(true) => {
                self.held.push_str(text);
                return String::new();
            }
            None => self.held.push_str(text),
        }
        let start = self.held.trim_start();
        let start = start.strip_prefix(PYTHON_TAG).map_or(start, str::trim_start);
        if start.is_empty() || PYTHON_TAG.starts_with(start) {
            return String::new();
        }
        let is_call = start.starts_with('{');
        self.calls = Some(is_call);
        if is_call { String::new() } else { std::mem::take(&mut self.held) }
    }

    fn finish(self) -> (String, Vec<ToolCall>) {
        if self.calls != Some(true) {
            return (self.held, Vec::new());
        }
        let body = self.held.trim_start();
        let body = body.strip_prefix(PYTHON_TAG).unwrap_or(body).trim();
        let mut calls = Vec::new();
        for (index, part) in body.split(';').map(str::trim).filter(|part| !part.is_empty()).enumerate() {
            match parse_call(part, index) {
                Some(call) => calls.push(call),
                // Not all calls: the reply is text after all.
                None => return (body.to_owned(), Vec::new()),
            }
        }
        (String::new(), calls)
    }
}

/// `{"name": …, "arguments": {…}}` (or `"parameters"`) as a tool call.
fn parse_call(body: &str, index: usize) -> Option<ToolCall> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let name = value.get("name")?.as_str()?.to_owned();
    let arguments = match value.get("arguments").or_else(|| value.get("parameters")) {
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
        split_as(ToolFormat::Hermes, chunks)
    }

    fn split_as(format: ToolFormat, chunks: &[&str]) -> (String, String, Vec<ToolCall>) {
        let mut splitter = ToolCallSplitter::new(Some(format));
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

    #[test]
    fn a_json_object_reply_is_a_call() {
        let (seen, rest, calls) =
            split_as(ToolFormat::JsonObject, &["  {\"name\": \"add\", ", "\"parameters\": {\"a\": 1, \"b\": 2}}"]);
        assert_eq!(seen, "");
        assert_eq!(rest, "");
        assert_eq!(
            calls,
            vec![ToolCall { id: "call_0".into(), name: "add".into(), arguments: "{\"a\":1,\"b\":2}".into() }]
        );
    }

    #[test]
    fn several_json_calls_after_the_python_tag() {
        let (_, rest, calls) = split_as(
            ToolFormat::JsonObject,
            &["<|python", "_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"x\": 1}}"],
        );
        assert_eq!(rest, "");
        let names: Vec<&str> = calls.iter().map(|call| call.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(calls[1].id, "call_1");
    }

    #[test]
    fn a_text_reply_streams_at_once_and_json_that_is_not_a_call_stays_text() {
        let (seen, rest, calls) = split_as(ToolFormat::JsonObject, &["", " The", " answer is {4}."]);
        assert_eq!(seen, " The answer is {4}.");
        assert_eq!((rest.as_str(), calls.len()), ("", 0));
        let (seen, rest, calls) = split_as(ToolFormat::JsonObject, &["{\"answer\": 4}"]);
        assert_eq!(seen, "");
        assert_eq!(rest, "{\"answer\": 4}");
        assert!(calls.is_empty());
    }

    #[test]
    fn the_format_comes_from_the_template() {
        assert_eq!(ToolFormat::of_template("{% if tools %}<tool_call>{% endif %}"), Some(ToolFormat::Hermes));
        let llama = "{%- if tools %}{{ tools | tojson }}{%- endif %}{%- set tool_call = m.tool_calls[0].function %}{{- '\"parameters\": ' }}";
        assert_eq!(ToolFormat::of_template(llama), Some(ToolFormat::JsonObject));
        assert_eq!(ToolFormat::of_template("{{ messages }}"), None);
    }
}
