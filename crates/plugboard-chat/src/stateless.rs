//! A completion that is not a stored conversation: the OpenAI-compatible API, where the
//! client sends the whole history each time. The plugin pipeline still applies: the last
//! user message passes will-be-posted and before-prompt filters, streamed text the stream
//! filters, the final text the after-response filters. The client's own tools pass
//! through to the model and their calls back to the client.

use plugboard_host::{Plugin, TextFilter, run_stream_filters, run_text_filters};
use plugboard_store::User;
use plugboard_types::{CallContext, Completion, CompletionChunk, CompletionRequest, Role as ApiRole};
use tokio::sync::mpsc;

use crate::engine::ChatEngine;
use crate::error::{ChatError, Refused};

/// The end of a stateless completion.
#[derive(Debug, Clone)]
pub struct StatelessOutcome {
    /// The completion, its content after the after-response filters.
    pub completion: Completion,
    /// The model, `provider/model`.
    pub model: String,
    /// For a stream: text the after-response filters appended, to send as a last delta.
    /// `None` when they changed nothing, or changed the text in a way a stream of
    /// appended pieces cannot express (the non-streamed content has it either way).
    pub appended: Option<String>,
}

impl ChatEngine {
    /// Runs `request` (its `model` is `provider/model`, or empty for the default) through
    /// the plugin pipeline for `user`. Streamed text goes to `sink` after stream filters.
    pub async fn complete_stateless(
        &self,
        user: &User,
        mut request: CompletionRequest,
        sink: mpsc::Sender<CompletionChunk>,
    ) -> Result<StatelessOutcome, ChatError> {
        let filters: Vec<Plugin> = self.plugin_set().plugins();
        let wanted = (!request.model.is_empty()).then(|| request.model.clone());
        let (provider, model) = self.models().await.resolve(wanted.as_deref()).await?;
        let model_id = format!("{}/{model}", provider.id());
        let context =
            CallContext { user_id: user.id.as_str().into(), model: model_id.clone(), ..CallContext::default() };
        // The client sends the whole history each time, unfiltered: every user message
        // passes the prompt filters (a privacy filter must see them all), and the newest
        // the will-be-posted hooks too.
        let last_user = request.messages.iter().rposition(|message| message.role == ApiRole::User);
        for (index, message) in request.messages.iter_mut().enumerate() {
            if message.role != ApiRole::User {
                continue;
            }
            let mut text = message.content.clone();
            if Some(index) == last_user {
                let draft = plugboard_types::Message {
                    id: Default::default(),
                    conversation_id: Default::default(),
                    role: ApiRole::User,
                    author: format!("user:{}", user.id),
                    content: text.clone(),
                    created_at_ms: 0,
                };
                let posted = run_text_filters(&filters, &TextFilter::MessageWillBePosted(draft), &context, &text).await;
                if let Some(rejection) = posted.rejection {
                    return Err(ChatError::refused(Refused::Prompt, &rejection));
                }
                text = posted.text;
            }
            let prompt = run_text_filters(&filters, &TextFilter::BeforePrompt, &context, &text).await;
            if let Some(rejection) = prompt.rejection {
                return Err(ChatError::refused(Refused::Prompt, &rejection));
            }
            message.content = prompt.text;
        }
        request.model = model;
        let (pieces, mut received) = mpsc::channel(64);
        let running = tokio::spawn(async move { provider.complete(request, pieces).await });
        let mut streamed = String::new();
        while let Some(piece) = received.recv().await {
            let piece = match piece {
                CompletionChunk::Delta(text) => {
                    let text = run_stream_filters(&filters, &context, &text).await;
                    streamed.push_str(&text);
                    CompletionChunk::Delta(text)
                }
                call @ CompletionChunk::ToolCall(_) => call,
            };
            if sink.send(piece).await.is_err() {
                running.abort();
                return Err(ChatError::Cancelled);
            }
        }
        let mut completion =
            running.await.map_err(|error| ChatError::Internal(format!("the model task failed: {error}")))??;
        completion.content = streamed.clone();
        let after = run_text_filters(&filters, &TextFilter::AfterResponse, &context, &streamed).await;
        if let Some(rejection) = after.rejection {
            completion.content = format!("[reply withheld by plugin `{}`: {}]", rejection.plugin, rejection.reason);
            return Ok(StatelessOutcome { completion, model: model_id, appended: None });
        }
        let appended = after.text.strip_prefix(streamed.as_str()).filter(|rest| !rest.is_empty()).map(str::to_owned);
        if after.text != streamed && appended.is_none() {
            tracing::debug!(
                "an after-response filter rewrote a streamed OpenAI-compatible reply; the stream cannot show it"
            );
        }
        completion.content = after.text;
        Ok(StatelessOutcome { completion, model: model_id, appended })
    }
}
