//! The conversation as the model sees it: the system prompt, then the stored messages
//! (commands and unfinished rows left out), with tool calls and results paired so the
//! history stays valid for the chat-completions protocol after deletions or a cut-off turn.

use plugboard_store::{MessageStatus, Role, Store};
use plugboard_types::{CompletionMessage, Role as ApiRole, ToolCall};

use crate::convert::api_role;
use crate::error::ChatError;

/// The conversation so far as the model sees it: `system_prompt`, then every stored
/// message (the last one is the user's new message).
pub(crate) async fn history(
    store: &dyn Store,
    system_prompt: &str,
    conversation_id: &str,
) -> Result<Vec<CompletionMessage>, ChatError> {
    let mut history = vec![CompletionMessage {
        role: ApiRole::System,
        content: system_prompt.to_owned(),
        tool_calls: Vec::new(),
        tool_call_id: String::new(),
    }];
    for message in store.list_messages(conversation_id).await? {
        let command = message.data.as_ref().is_some_and(|data| data["command"] == true);
        if message.status == MessageStatus::Streaming || message.role == Role::System || command {
            continue;
        }
        let tool_calls: Vec<ToolCall> = message
            .data
            .as_ref()
            .and_then(|data| data.get("tool_calls"))
            .and_then(|calls| serde_json::from_value(calls.clone()).ok())
            .unwrap_or_default();
        let tool_call_id =
            message.data.as_ref().and_then(|data| data["tool_call_id"].as_str()).unwrap_or_default().to_owned();
        history.push(CompletionMessage {
            role: api_role(message.role),
            content: message.content,
            tool_calls,
            tool_call_id,
        });
    }
    Ok(pair_tool_messages(history))
}

/// Keeps the history valid for the chat-completions protocol after deletions or a cut-off
/// turn: a tool result stays only right after the call it answers, and an assistant
/// message keeps only the calls that have a result.
fn pair_tool_messages(history: Vec<CompletionMessage>) -> Vec<CompletionMessage> {
    let mut paired: Vec<CompletionMessage> = Vec::with_capacity(history.len());
    let mut index = 0;
    while index < history.len() {
        let message = &history[index];
        if message.role == ApiRole::Tool {
            // Not right after its call (that case is handled below): drop it.
            index += 1;
            continue;
        }
        if message.tool_calls.is_empty() {
            paired.push(message.clone());
            index += 1;
            continue;
        }
        let results: Vec<&CompletionMessage> =
            history[index + 1..].iter().take_while(|next| next.role == ApiRole::Tool).collect();
        let answered: Vec<ToolCall> = message
            .tool_calls
            .iter()
            .filter(|call| results.iter().any(|result| result.tool_call_id == call.id))
            .cloned()
            .collect();
        paired.push(CompletionMessage { tool_calls: answered.clone(), ..message.clone() });
        for result in &results {
            if answered.iter().any(|call| call.id == result.tool_call_id) {
                paired.push((*result).clone());
            }
        }
        index += 1 + results.len();
    }
    // An assistant message left with neither text nor calls says nothing.
    paired.retain(|message| {
        !(message.role == ApiRole::Assistant && message.content.is_empty() && message.tool_calls.is_empty())
    });
    paired
}

#[cfg(test)]
mod tests {
    use plugboard_types::{CompletionMessage, Role, ToolCall};

    use super::pair_tool_messages;

    fn message(role: Role, content: &str, calls: &[&str], answers: &str) -> CompletionMessage {
        CompletionMessage {
            role,
            content: content.into(),
            tool_calls: calls
                .iter()
                .map(|id| ToolCall { id: (*id).into(), name: "t".into(), arguments: "{}".into() })
                .collect(),
            tool_call_id: answers.into(),
        }
    }

    #[test]
    fn tool_results_stay_only_after_their_calls() {
        let history = vec![
            message(Role::User, "q", &[], ""),
            message(Role::Tool, "orphan", &[], "gone"),
            message(Role::Assistant, "", &["a", "b"], ""),
            message(Role::Tool, "result a", &[], "a"),
            message(Role::Assistant, "", &["c"], ""),
            message(Role::Assistant, "answer", &[], ""),
        ];
        let paired = pair_tool_messages(history);
        let shape: Vec<(Role, String, usize)> =
            paired.iter().map(|m| (m.role, m.content.clone(), m.tool_calls.len())).collect();
        assert_eq!(
            shape,
            [
                (Role::User, "q".to_owned(), 0),
                (Role::Assistant, String::new(), 1),
                (Role::Tool, "result a".to_owned(), 0),
                (Role::Assistant, "answer".to_owned(), 0),
            ]
        );
    }
}
