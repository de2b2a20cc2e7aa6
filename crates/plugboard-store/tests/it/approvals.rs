//! Tool policies and approvals: policies set, replaced and removed by key; an approval is
//! decided once (a second decision, or one after its expiry, changes nothing), expires at
//! any time while pending, reads as expired once past its time, and goes with its
//! conversation.

use std::time::Duration;

use plugboard_store::{ApprovalDecision, ApprovalStatus, NewToolApproval, StoreError};
use plugboard_types::Clock;
use serde_json::json;

use crate::{TestDb, new_message, user_and_conversation};

fn asking(conversation_id: &str, user_id: &str, message_id: &str, expires_at_ms: i64) -> NewToolApproval {
    NewToolApproval {
        conversation_id: conversation_id.to_owned(),
        user_id: user_id.to_owned(),
        message_id: message_id.to_owned(),
        call_id: "call_1".to_owned(),
        tool: "calculator__calculate".to_owned(),
        source: "calculator".to_owned(),
        arguments: json!({"expression": "6*7"}),
        reason: "an administrator's policy for `calculator__calculate` is ask".to_owned(),
        expires_at_ms,
    }
}

fn decision(status: ApprovalStatus) -> ApprovalDecision {
    ApprovalDecision { status, arguments: None, reason: None }
}

async fn tool_policies_are_set_replaced_and_removed_by_key(db: TestDb) {
    let store = db.open().await;
    assert!(store.tool_policies().await.unwrap().is_empty());
    store.set_tool_policy("plugin:calculator", "ask").await.unwrap();
    let set = store.set_tool_policy("calculator__calculate", "deny").await.unwrap();
    assert_eq!((set.key.as_str(), set.policy.as_str()), ("calculator__calculate", "deny"));
    store.set_tool_policy("calculator__calculate", "auto").await.unwrap();
    let policies: Vec<(String, String)> =
        store.tool_policies().await.unwrap().into_iter().map(|entry| (entry.key, entry.policy)).collect();
    assert_eq!(
        policies,
        [("calculator__calculate".to_owned(), "auto".to_owned()), ("plugin:calculator".to_owned(), "ask".to_owned())]
    );
    let error = store.set_tool_policy("mcp:files", "sometimes").await.unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput { what: "policy", .. }), "{error:?}");
    assert!(error.to_string().contains("`auto`, `ask` or `deny`"), "{error}");
    assert!(store.delete_tool_policy("plugin:calculator").await.unwrap());
    assert!(!store.delete_tool_policy("plugin:calculator").await.unwrap());
    assert_eq!(store.tool_policies().await.unwrap().len(), 1);
}

async fn an_approval_is_decided_once(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    let (user, conversation) = user_and_conversation(&store).await;
    let call = store.add_message(&new_message(&conversation.id, plugboard_store::Role::Assistant, "")).await.unwrap();
    let expires = clock.now_ms() + 60_000;
    let asked = store.create_tool_approval(&asking(&conversation.id, &user.id, &call.id, expires)).await.unwrap();
    assert_eq!(asked.status, ApprovalStatus::Pending);
    assert_eq!(asked.arguments, json!({"expression": "6*7"}));
    assert_eq!(store.tool_approval(&asked.id).await.unwrap(), Some(asked.clone()));
    let pending = store.conversation_approvals(&conversation.id, Some(ApprovalStatus::Pending)).await.unwrap();
    assert_eq!(pending, std::slice::from_ref(&asked));

    let edited = ApprovalDecision {
        status: ApprovalStatus::Approved,
        arguments: Some(json!({"expression": "1+1"})),
        reason: None,
    };
    let approved = store.decide_tool_approval(&asked.id, &edited).await.unwrap().unwrap();
    assert_eq!(approved.status, ApprovalStatus::Approved);
    assert_eq!(approved.decided_arguments, Some(json!({"expression": "1+1"})));
    assert!(approved.decided_at_ms.is_some());
    // Decided: neither a denial nor an expiry changes it.
    assert_eq!(store.decide_tool_approval(&asked.id, &decision(ApprovalStatus::Denied)).await.unwrap(), None);
    assert_eq!(store.decide_tool_approval(&asked.id, &decision(ApprovalStatus::Expired)).await.unwrap(), None);
    assert_eq!(store.tool_approval(&asked.id).await.unwrap(), Some(approved.clone()));
    assert!(store.conversation_approvals(&conversation.id, Some(ApprovalStatus::Pending)).await.unwrap().is_empty());
    assert_eq!(store.decide_tool_approval("no-such-approval", &decision(ApprovalStatus::Denied)).await.unwrap(), None);

    let second = store.create_tool_approval(&asking(&conversation.id, &user.id, &call.id, expires)).await.unwrap();
    let denial =
        ApprovalDecision { status: ApprovalStatus::Denied, arguments: None, reason: Some("not now".to_owned()) };
    let denied = store.decide_tool_approval(&second.id, &denial).await.unwrap().unwrap();
    assert_eq!((denied.status, denied.decision_reason.as_deref()), (ApprovalStatus::Denied, Some("not now")));
    let all = store.conversation_approvals(&conversation.id, None).await.unwrap();
    assert_eq!(all.iter().map(|approval| approval.id.as_str()).collect::<Vec<_>>(), [&asked.id, &second.id]);
}

async fn an_approval_past_its_time_is_expired_and_can_no_longer_be_approved(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    let (user, conversation) = user_and_conversation(&store).await;
    let call = store.add_message(&new_message(&conversation.id, plugboard_store::Role::Assistant, "")).await.unwrap();
    let expires = clock.now_ms() + 1_000;
    let asked = store.create_tool_approval(&asking(&conversation.id, &user.id, &call.id, expires)).await.unwrap();
    clock.advance(Duration::from_secs(2));
    // Past its time it reads as expired, before anyone marked it.
    assert_eq!(store.tool_approval(&asked.id).await.unwrap().unwrap().status, ApprovalStatus::Expired);
    assert!(store.conversation_approvals(&conversation.id, Some(ApprovalStatus::Pending)).await.unwrap().is_empty());
    assert_eq!(store.conversation_approvals(&conversation.id, Some(ApprovalStatus::Expired)).await.unwrap().len(), 1);
    assert_eq!(store.decide_tool_approval(&asked.id, &decision(ApprovalStatus::Approved)).await.unwrap(), None);
    let expired = store.decide_tool_approval(&asked.id, &decision(ApprovalStatus::Expired)).await.unwrap().unwrap();
    assert_eq!(expired.status, ApprovalStatus::Expired);
    assert_eq!(store.decide_tool_approval(&asked.id, &decision(ApprovalStatus::Expired)).await.unwrap(), None);
}

async fn an_approval_needs_its_conversation_and_goes_with_it(db: TestDb) {
    let store = db.open().await;
    let (user, conversation) = user_and_conversation(&store).await;
    let call = store.add_message(&new_message(&conversation.id, plugboard_store::Role::Assistant, "")).await.unwrap();
    let far = crate::now_ms() + 60_000;
    let error = store.create_tool_approval(&asking("no-such-conversation", &user.id, &call.id, far)).await.unwrap_err();
    assert!(matches!(error, StoreError::NotFound { what: "conversation", .. }), "{error:?}");
    let asked = store.create_tool_approval(&asking(&conversation.id, &user.id, &call.id, far)).await.unwrap();
    store.delete_conversation(&conversation.id).await.unwrap();
    assert_eq!(store.tool_approval(&asked.id).await.unwrap(), None);
    // And with its owner's account.
    let again = store.create_conversation(&user.id, "Again").await.unwrap();
    let asked = store.create_tool_approval(&asking(&again.id, &user.id, &call.id, far)).await.unwrap();
    let bob = store.create_user("bob", "hash-b").await.unwrap();
    store.set_admin(&bob.id, true).await.unwrap();
    store.delete_user(&user.id).await.unwrap();
    assert_eq!(store.tool_approval(&asked.id).await.unwrap(), None);
}

crate::backends!(
    tool_policies_are_set_replaced_and_removed_by_key,
    an_approval_is_decided_once,
    an_approval_past_its_time_is_expired_and_can_no_longer_be_approved,
    an_approval_needs_its_conversation_and_goes_with_it,
);
