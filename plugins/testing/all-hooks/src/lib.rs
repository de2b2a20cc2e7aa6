//! Test fixture: every hook, each with a small behaviour a test can predict.

use plugboard_sdk::{
    AccountEvent, CallContext, Completion, CompletionRequest, Conversation, Event, ExportFile, ExportFormat,
    FilterOutcome, FinishReason, HealthReport, HttpRequest, HttpResponse, Message, ModelInfo, Plugin, RequestOutcome,
    ResponseOutcome, SelfTestResult, Settings, ToolSpec, Usage, chat, completion, export_plugin, kv,
};
use serde_json::json;

struct AllHooks {
    suffix: String,
}

fn remember(key: &str, value: &str) {
    remember_bytes(key, value.as_bytes());
}

fn remember_bytes(key: &str, value: &[u8]) {
    if let Err(error) = kv::set(key, value) {
        plugboard_sdk::error!("kv: {error}");
    }
}

impl Plugin for AllHooks {
    fn init(settings: Settings) -> Result<Self, String> {
        let suffix: String = settings.get("suffix").unwrap_or_default();
        if suffix == "refuse" {
            return Err("suffix `refuse` is refused by init".into());
        }
        Ok(AllHooks { suffix })
    }
    fn shutdown(&mut self) {
        remember("last-lifecycle", "shutdown");
    }
    fn on_enable(&mut self) {
        remember("last-lifecycle", "enabled");
    }
    fn on_disable(&mut self) {
        remember("last-lifecycle", "disabled");
    }
    fn health(&mut self) -> HealthReport {
        HealthReport::degraded(format!("suffix is {:?}", self.suffix))
    }
    fn self_test(&mut self) -> Vec<SelfTestResult> {
        vec![SelfTestResult::new("always passes", true, "ok"), SelfTestResult::new("always fails", false, "on purpose")]
    }
    fn before_prompt(&mut self, context: &CallContext, prompt: String) -> FilterOutcome {
        if prompt.contains("forbidden") {
            return FilterOutcome::Reject("prompts may not say forbidden".into());
        }
        FilterOutcome::Rewrite(format!(
            "{}{} (conversation {})",
            prompt.to_uppercase(),
            self.suffix,
            context.conversation_id
        ))
    }
    fn after_response(&mut self, _context: &CallContext, response: String) -> FilterOutcome {
        if response.is_empty() { FilterOutcome::Keep } else { FilterOutcome::Rewrite(format!("{response} [checked]")) }
    }
    fn stream_chunk(&mut self, _context: &CallContext, chunk: String) -> String {
        chunk.replace("secret", "******")
    }
    fn before_request(&mut self, _context: &CallContext, mut request: HttpRequest) -> RequestOutcome {
        if request.uri.starts_with("/blocked") {
            return RequestOutcome::Respond(HttpResponse::text(403, "blocked by all-hooks"));
        }
        request.headers.push(("x-all-hooks".into(), "seen".into()));
        RequestOutcome::Rewrite(request)
    }
    fn after_request(
        &mut self,
        _context: &CallContext,
        _request: HttpRequest,
        mut response: HttpResponse,
    ) -> ResponseOutcome {
        response.headers.push(("x-all-hooks".into(), "after".into()));
        ResponseOutcome::Rewrite(response)
    }
    fn on_event(&mut self, _context: &CallContext, event: Event) {
        let name = match &event {
            Event::ConversationStarted(c) => format!("conversation-started {}", c.id),
            Event::ConversationEnded(c) => format!("conversation-ended {}", c.id),
            Event::MessageReceived(m) => format!("message-received {}", m.id),
            Event::MessageSent(m) => {
                // Relays a message that asks for it, so tests see what a plugin's post
                // sets off: the relay asks again, so copies of this plugin relay each
                // other's posts until the host refuses the chain.
                if m.content.contains("please relay") {
                    let relayed = format!("relayed: {}", m.content);
                    if let Err(error) = chat::post_message(&m.conversation_id, &relayed) {
                        remember("relay-error", &error.message);
                    }
                }
                format!("message-sent {}", m.id)
            }
            Event::MessageEdited(m) => format!("message-edited {}", m.id),
            Event::MessageDeleted(m) => format!("message-deleted {}", m.id),
            Event::PluginLoaded(id) => format!("plugin-loaded {id}"),
            Event::PluginUnloaded(id) => format!("plugin-unloaded {id}"),
            Event::PluginEnabled(id) => format!("plugin-enabled {id}"),
            Event::PluginDisabled(id) => format!("plugin-disabled {id}"),
            Event::PluginFailed(failure) => format!("plugin-failed {}", failure.plugin),
            Event::FileAttached(file) => format!("file-attached {} {} {}", file.id, file.name, file.size),
            Event::FileDeleted(file) => format!("file-deleted {}", file.id),
        };
        remember("last-event", &name);
        // Every event, one per line, so a test can check what arrived and in what order.
        let mut log = kv::get("event-log").ok().flatten().unwrap_or_default();
        log.extend_from_slice(name.as_bytes());
        log.push(b'\n');
        remember_bytes("event-log", &log);
    }
    fn on_account_event(&mut self, context: &CallContext, event: AccountEvent) {
        let (name, account) = match &event {
            AccountEvent::UserCreated(account) => ("user-created", account),
            AccountEvent::UserDisabled(account) => ("user-disabled", account),
            AccountEvent::UserEnabled(account) => ("user-enabled", account),
            AccountEvent::UserDeleted(account) => ("user-deleted", account),
        };
        // One per line, apart from the other events, with the context's user to show it is
        // the account's.
        let mut log = kv::get("account-log").ok().flatten().unwrap_or_default();
        let line = format!("{name} {} {} {}\n", account.username, account.id, context.user_id == account.id);
        log.extend_from_slice(line.as_bytes());
        remember_bytes("account-log", &log);
    }
    fn message_will_be_posted(&mut self, _context: &CallContext, message: Message) -> FilterOutcome {
        if message.content.contains("spam") {
            FilterOutcome::Reject("no spam".into())
        } else if message.content.contains("colour") {
            FilterOutcome::Rewrite(message.content.replace("colour", "color"))
        } else {
            FilterOutcome::Keep
        }
    }
    fn tools(&mut self) -> Vec<ToolSpec> {
        vec![ToolSpec::new("echo", "Echoes its arguments", json!({"type": "object"}))]
    }
    fn call_tool(&mut self, context: &CallContext, name: &str, arguments: serde_json::Value) -> Result<String, String> {
        match name {
            "echo" => Ok(json!({"arguments": arguments, "user": context.user_id}).to_string()),
            "fail" => Err("the tool failed on purpose".into()),
            other => Err(format!("unknown tool `{other}`")),
        }
    }
    fn models(&mut self) -> Vec<ModelInfo> {
        vec![ModelInfo {
            id: "echo-1".into(),
            display_name: "Echo".into(),
            context_length: 4096,
            supports_tools: false,
        }]
    }
    fn complete(&mut self, request: CompletionRequest) -> Result<Completion, String> {
        let last = request.messages.last().map(|m| m.content.clone()).unwrap_or_default();
        let mut content = String::new();
        let mut finish_reason = FinishReason::Stop;
        for (index, word) in last.split(' ').enumerate() {
            let piece = if index == 0 { word.to_owned() } else { format!(" {word}") };
            content.push_str(&piece);
            if !completion::emit_text(&piece) {
                finish_reason = FinishReason::Cancelled;
                break;
            }
        }
        Ok(Completion {
            content,
            tool_calls: Vec::new(),
            finish_reason,
            usage: Usage {
                prompt_tokens: request.messages.len() as u32,
                completion_tokens: last.split(' ').count() as u32,
            },
        })
    }
    fn export_formats(&mut self) -> Vec<ExportFormat> {
        vec![ExportFormat {
            id: "count".into(),
            display_name: "Count".into(),
            media_type: "text/plain".into(),
            extension: "txt".into(),
        }]
    }
    fn export(
        &mut self,
        _format: &str,
        conversation: Conversation,
        messages: Vec<Message>,
    ) -> Result<ExportFile, String> {
        Ok(ExportFile {
            file_name: format!("{}.txt", conversation.id),
            media_type: "text/plain".into(),
            data: format!("{} has {} messages", conversation.title, messages.len()).into_bytes(),
        })
    }
    fn handle_http(&mut self, context: &CallContext, request: HttpRequest) -> HttpResponse {
        HttpResponse::json(
            200,
            &json!({
                "method": request.method,
                "uri": request.uri,
                "user": context.user_id,
                "body": String::from_utf8_lossy(&request.body),
                "headers": request.headers.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            }),
        )
    }
    fn run_command(&mut self, _context: &CallContext, name: &str, arguments: &str) -> Result<String, String> {
        match name {
            "echo" => Ok(format!("echo: {arguments}")),
            other => Err(format!("unknown command `/{other}`")),
        }
    }
    fn run_task(&mut self, name: &str, scheduled_at_ms: u64) -> Result<(), String> {
        remember("last-task", &format!("{name} at {scheduled_at_ms}"));
        Ok(())
    }
}

export_plugin!(
    AllHooks,
    hooks: [
        Health, SelfTest, BeforePrompt, AfterResponse, StreamChunk, BeforeRequest, AfterRequest,
        Events, MessageWillBePosted, Tools, Provider, Exporter, Http, Commands, Scheduled,
    ]
);
