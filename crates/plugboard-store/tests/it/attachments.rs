//! Attachments: bytes round-trip exactly, listing leaves them out, deleting, and the
//! conversation (and message) they belong to must exist.

use plugboard_store::{Attachment, Role, StoreError};

use crate::{TestDb, new_message, user_and_conversation};

async fn attachments_round_trip_their_bytes(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let message = store.add_message(&new_message(&conversation.id, Role::User, "see attached")).await.unwrap();
    let image: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();

    let picture =
        store.add_attachment(&conversation.id, Some(&message.id), "cat.png", "image/png", &image).await.unwrap();
    assert_eq!(
        picture,
        Attachment {
            id: picture.id.clone(),
            conversation_id: conversation.id.clone(),
            message_id: Some(message.id.clone()),
            file_name: "cat.png".to_owned(),
            media_type: "image/png".to_owned(),
            size: 70_000,
            created_at_ms: picture.created_at_ms,
        }
    );
    let empty = store.add_attachment(&conversation.id, None, "empty.txt", "text/plain", b"").await.unwrap();
    assert_eq!((empty.size, empty.message_id.as_deref()), (0, None));

    assert_eq!(store.attachment(&picture.id).await.unwrap(), Some((picture.clone(), image)));
    assert_eq!(store.attachment(&empty.id).await.unwrap(), Some((empty.clone(), Vec::new())));
    assert_eq!(store.attachment("no-such-attachment").await.unwrap(), None);
    assert_eq!(store.list_attachments(&conversation.id).await.unwrap(), [picture.clone(), empty.clone()]);

    assert_eq!(store.delete_attachment(&picture.id).await.unwrap(), Some(picture.clone()));
    assert_eq!(store.delete_attachment(&picture.id).await.unwrap(), None);
    assert_eq!(store.attachment(&picture.id).await.unwrap(), None);
    assert_eq!(store.list_attachments(&conversation.id).await.unwrap(), [empty]);
}

async fn an_attachment_needs_its_conversation_and_a_message_of_it(db: TestDb) {
    let store = db.open().await;
    let (user, conversation) = user_and_conversation(&store).await;
    let other = store.create_conversation(&user.id, "Other").await.unwrap();
    let elsewhere = store.add_message(&new_message(&other.id, Role::User, "not here")).await.unwrap();

    let error =
        store.add_attachment("no-such-conversation", None, "a", "text/plain", b"x").await.expect_err("no conversation");
    assert!(
        matches!(&error, StoreError::NotFound { what: "conversation", id } if id == "no-such-conversation"),
        "{error:?}"
    );
    let error = store
        .add_attachment(&conversation.id, Some(&elsewhere.id), "a", "text/plain", b"x")
        .await
        .expect_err("the message is in another conversation");
    assert!(matches!(&error, StoreError::NotFound { what: "message", id } if *id == elsewhere.id), "{error:?}");
    let error = store
        .add_attachment(&conversation.id, Some("no-such-message"), "a", "text/plain", b"x")
        .await
        .expect_err("no such message");
    assert!(matches!(error, StoreError::NotFound { what: "message", .. }), "{error:?}");
    assert_eq!(store.list_attachments(&conversation.id).await.unwrap(), []);
}

crate::backends!(attachments_round_trip_their_bytes, an_attachment_needs_its_conversation_and_a_message_of_it,);
