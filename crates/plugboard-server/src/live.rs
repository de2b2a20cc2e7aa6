//! `GET /api/events`: the signed-in person's live feed as server-sent events, so their open
//! pages show new and changed conversations and messages (their own, the model's, and
//! plugins' posts such as a webhook's) without reading everything again. Each person's
//! stream carries their own conversations only (`plugboard_chat::LiveEvent`).

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _, stream};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::AppState;
use crate::auth::AuthUser;

/// The caller's conversations and messages as they change, as server-sent events
///
/// The first event, `ready`, says the stream is listening: what happens after it is sent.
/// Then, each named by its type with its JSON as data: `conversation_created`,
/// `conversation_changed` (renamed, or its plugin choice changed) and
/// `conversation_deleted` (`{"conversation_id"}`); `message_posted` (the caller's
/// message, a reply or tool result once stored as it stays, or a plugin's post),
/// `message_edited` and `message_deleted` (`{"message_id", "conversation_id"}`). A
/// stream that fell too far behind gets `lagged` (`{"missed": n}`): read the conversations
/// again. Only the caller's own conversations are ever told. The stream does not end by
/// itself; after a dropped connection, connect again and read what is open again (events
/// are not replayed).
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "conversations",
    operation_id = "live_events",
    responses(
        (status = 200, description = "The events", body = String, content_type = "text/event-stream"),
        (status = 401, description = "Not signed in", body = crate::schemas::ApiError),
    )
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // Subscribed before `ready` is sent, so nothing after it is missed.
    let events = BroadcastStream::new(state.engine.subscribe_live(&user.id));
    let ready = stream::once(async { Ok::<_, Infallible>(SseEvent::default().event("ready").data("{}")) });
    let events = events.map(|event| {
        Ok(match event {
            Ok(event) => SseEvent::default().event(event.name()).json_data(&event).unwrap_or_default(),
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                SseEvent::default().event("lagged").data(format!("{{\"missed\":{missed}}}"))
            }
        })
    });
    Sse::new(ready.chain(events)).keep_alive(KeepAlive::default())
}
