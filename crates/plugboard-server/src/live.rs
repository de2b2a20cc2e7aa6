//! `GET /api/events`: the signed-in person's live feed as server-sent events, so their open
//! pages show new and changed conversations and messages (their own, the model's, and
//! plugins' posts such as a webhook's) without reading everything again. Each person's
//! stream carries their own conversations only (`plugboard_chat::LiveEvent`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _, stream};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::AppState;
use crate::auth::{AuthUser, ResolvedCaller};

/// How often a stream checks that its session or token still signs its person in.
const SIGN_IN_CHECK: Duration = Duration::from_secs(10);

/// The caller's conversations and messages as they change, as server-sent events
///
/// The first event, `ready`, says the stream is listening: what happens after it is sent.
/// Then, each named by its type with its JSON as data: `conversation_created`,
/// `conversation_changed` (renamed, or its plugin choice changed) and
/// `conversation_deleted` (`{"conversation_id"}`); `message_posted` (the caller's
/// message, a reply or tool result once stored as it stays, or a plugin's post),
/// `message_edited` and `message_deleted` (`{"message_id", "conversation_id"}`). A
/// stream that fell too far behind gets `lagged` (`{"missed": n}`): read the conversations
/// again. Only the caller's own conversations are ever told. The stream ends within
/// seconds once its session or API token no longer signs the caller in (signed out,
/// expired, revoked), and not otherwise. After a dropped connection, connect again and
/// read what is open again (events are not replayed).
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "conversations",
    operation_id = "live_events",
    responses(
        (status = 200, description = "The events", body = crate::schemas::ServerSentEvent, content_type = "text/event-stream"),
        (status = 401, description = "Not signed in", body = crate::schemas::ApiError),
    )
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
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
    let signed_out = async move {
        let mut every = tokio::time::interval(SIGN_IN_CHECK);
        every.tick().await;
        loop {
            every.tick().await;
            if ResolvedCaller::resolve(&headers, &state).await.user_id() != Some(user.id.as_str()) {
                return;
            }
        }
    };
    Sse::new(ready.chain(events).take_until(signed_out)).keep_alive(KeepAlive::default())
}
