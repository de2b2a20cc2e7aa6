//! The host services plugins reach through their permissions, backed by the chat server:
//! conversations, messages, users and files from the store ([`StoreChat`]), and the model
//! ([`ModelsAi`]). The host checks the permission before any of these runs. What plugins
//! change goes through the chat engine once it is attached: their posts pass the other
//! plugins' will-be-posted hooks, and every change fires the plugins' events and reaches
//! the owner's open pages. Text they give has U+0000 removed before it is stored
//! (`crate::text`).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use plugboard_host::services::{AiService, ChatService, ServiceError, ServiceErrorKind};
use plugboard_manifest::PluginId;
use plugboard_store::{ChatStore, StoreError};
use plugboard_types::{Completion, CompletionRequest, Conversation, File, Message, User};
use tokio::sync::{RwLock, mpsc};

use crate::convert::{api_conversation, api_message};
use crate::engine::{ChatEngine, MAX_POST_DEPTH, WeakEngine, post_depth};
use crate::error::ChatError;
use crate::provider::Models;
use crate::text::without_nul;

/// The model registry shared by the chat engine and the plugins' `ai` service.
pub type SharedModels = Arc<RwLock<Models>>;

/// Plugins' access to the chat data in the store. Clones share the engine they are
/// attached to.
#[derive(Debug, Clone)]
pub struct StoreChat {
    store: Arc<dyn ChatStore>,
    /// Set once by [`StoreChat::attach`]; held weakly, since the engine's plugins hold
    /// this service.
    engine: Arc<OnceLock<WeakEngine>>,
}

impl StoreChat {
    /// The chat service over `store`; posting needs [`StoreChat::attach`] too.
    pub fn new(store: Arc<dyn ChatStore>) -> StoreChat {
        StoreChat { store, engine: Arc::default() }
    }

    /// Sends what plugins change through `engine` (built after the runtime this service
    /// is given to): the will-be-posted hooks, the events and the live feed. Once only;
    /// a second call changes nothing.
    pub fn attach(&self, engine: &ChatEngine) {
        if self.engine.set(engine.downgrade()).is_err() {
            tracing::warn!("the chat service is attached to an engine already; kept that one");
        }
    }

    /// The engine, or why plugins cannot change chat data now.
    fn engine(&self) -> Result<ChatEngine, ServiceError> {
        self.engine.get().and_then(WeakEngine::upgrade).ok_or_else(|| {
            ServiceError::new(ServiceErrorKind::Unavailable, "the chat engine is not running (the server is stopping)")
        })
    }
}

/// What a plugin hears when the engine refused its post.
fn post_failed(error: ChatError) -> ServiceError {
    match error {
        ChatError::Refused { .. } | ChatError::InvalidText { .. } | ChatError::InvalidInput(_) => {
            ServiceError::new(ServiceErrorKind::InvalidInput, error.to_string())
        }
        ChatError::Storage => storage_failed(),
        other => ServiceError::new(ServiceErrorKind::Internal, other.to_string()),
    }
}

fn storage_failed() -> ServiceError {
    ServiceError::new(ServiceErrorKind::Internal, "the server's database failed; the log has the details")
}

fn storage(error: StoreError) -> ServiceError {
    match error {
        StoreError::NotFound { .. } => ServiceError::new(ServiceErrorKind::NotFound, error.to_string()),
        StoreError::InvalidInput { .. } => ServiceError::new(ServiceErrorKind::InvalidInput, error.to_string()),
        other => {
            tracing::error!("chat service storage: {other}");
            storage_failed()
        }
    }
}

fn not_found(what: &str, id: &str) -> ServiceError {
    ServiceError::new(ServiceErrorKind::NotFound, format!("no {what} `{id}`"))
}

impl StoreChat {
    /// The conversation, if it exists and `user` (when set) owns it.
    async fn conversation(&self, user: Option<&str>, id: &str) -> Result<plugboard_store::Conversation, ServiceError> {
        self.store
            .conversation(id)
            .await
            .map_err(storage)?
            .filter(|conversation| user.is_none_or(|user| conversation.user_id == user))
            .ok_or_else(|| not_found("conversation", id))
    }

    async fn live_message(&self, user: Option<&str>, id: &str) -> Result<plugboard_store::Message, ServiceError> {
        let message = self
            .store
            .message(id)
            .await
            .map_err(storage)?
            .filter(|message| message.deleted_at_ms.is_none())
            .ok_or_else(|| not_found("message", id))?;
        self.conversation(user, &message.conversation_id).await.map_err(|_| not_found("message", id))?;
        Ok(message)
    }

    fn own_message(plugin: &PluginId, message: &plugboard_store::Message, verb: &str) -> Result<(), ServiceError> {
        if message.author == format!("plugin:{plugin}") {
            return Ok(());
        }
        Err(ServiceError::new(
            ServiceErrorKind::PermissionDenied,
            format!("plugin `{plugin}` may {verb} only its own messages; `{}` is by {}", message.id, message.author),
        ))
    }
}

#[async_trait]
impl ChatService for StoreChat {
    async fn get_conversation(&self, user: Option<&str>, id: &str) -> Result<Conversation, ServiceError> {
        Ok(api_conversation(&self.conversation(user, id).await?))
    }

    async fn create_conversation(
        &self,
        plugin: &PluginId,
        user: Option<&str>,
        user_id: &str,
        title: &str,
    ) -> Result<Conversation, ServiceError> {
        if user.is_some_and(|user| user != user_id) {
            return Err(ServiceError::new(
                ServiceErrorKind::PermissionDenied,
                "a plugin acting for one user cannot create conversations for another",
            ));
        }
        self.store.user(user_id).await.map_err(storage)?.ok_or_else(|| not_found("user", user_id))?;
        let engine = self.engine()?;
        let conversation =
            self.store.create_conversation(user_id, &without_nul(title.to_owned())).await.map_err(storage)?;
        tracing::info!(plugin = %plugin, conversation = %conversation.id, "plugin created a conversation");
        engine.conversation_started_by_plugin(plugin, &conversation);
        Ok(api_conversation(&conversation))
    }

    async fn list_messages(
        &self,
        user: Option<&str>,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<Message>, ServiceError> {
        self.conversation(user, conversation_id).await?;
        let messages = self.store.list_messages(conversation_id).await.map_err(storage)?;
        let skip = messages.len().saturating_sub(limit);
        Ok(messages.iter().skip(skip).map(api_message).collect())
    }

    async fn post_message(
        &self,
        plugin: &PluginId,
        user: Option<&str>,
        conversation_id: &str,
        content: &str,
    ) -> Result<Message, ServiceError> {
        let conversation = self.conversation(user, conversation_id).await?;
        let depth = post_depth();
        if depth >= MAX_POST_DEPTH {
            return Err(ServiceError::new(
                ServiceErrorKind::LimitExceeded,
                format!(
                    "plugin `{plugin}` cannot post here now: this post would react to {depth} plugin posts, each \
                     made in reaction to the one before; at most {MAX_POST_DEPTH} may be chained, so a plugin \
                     reacting to plugins' posts should not post in turn"
                ),
            ));
        }
        let message = self.engine()?.post_for_plugin(plugin, &conversation, content).await.map_err(post_failed)?;
        Ok(api_message(&message))
    }

    async fn edit_message(
        &self,
        plugin: &PluginId,
        user: Option<&str>,
        message_id: &str,
        content: &str,
    ) -> Result<Message, ServiceError> {
        let message = self.live_message(user, message_id).await?;
        StoreChat::own_message(plugin, &message, "edit")?;
        let engine = self.engine()?;
        let owner = self.conversation(None, &message.conversation_id).await?.user_id;
        let edited = self
            .store
            .edit_message(message_id, &without_nul(content.to_owned()))
            .await
            .map_err(storage)?
            .ok_or_else(|| not_found("message", message_id))?;
        engine.message_edited_by_plugin(plugin, &owner, &edited);
        Ok(api_message(&edited))
    }

    async fn delete_message(
        &self,
        plugin: &PluginId,
        user: Option<&str>,
        message_id: &str,
    ) -> Result<(), ServiceError> {
        let message = self.live_message(user, message_id).await?;
        StoreChat::own_message(plugin, &message, "delete")?;
        let engine = self.engine()?;
        let owner = self.conversation(None, &message.conversation_id).await?.user_id;
        if let Some(deleted) = self.store.delete_message(message_id).await.map_err(storage)? {
            engine.message_deleted_by_plugin(plugin, &owner, &deleted);
        }
        Ok(())
    }

    async fn get_user(&self, id: &str) -> Result<User, ServiceError> {
        let user = self.store.user(id).await.map_err(storage)?.ok_or_else(|| not_found("user", id))?;
        Ok(User { id: user.id.into(), display_name: user.username, is_admin: user.is_admin })
    }

    async fn read_file(&self, user: Option<&str>, id: &str) -> Result<File, ServiceError> {
        let (attachment, data) =
            self.store.attachment(id).await.map_err(storage)?.ok_or_else(|| not_found("file", id))?;
        self.conversation(user, &attachment.conversation_id).await.map_err(|_| not_found("file", id))?;
        Ok(File {
            id: attachment.id,
            conversation_id: attachment.conversation_id.into(),
            name: attachment.file_name,
            media_type: attachment.media_type,
            data,
        })
    }

    async fn write_file(
        &self,
        plugin: &PluginId,
        user: Option<&str>,
        conversation_id: &str,
        name: &str,
        media_type: &str,
        data: Vec<u8>,
    ) -> Result<String, ServiceError> {
        self.conversation(user, conversation_id).await?;
        let (name, media_type) = (without_nul(name.to_owned()), without_nul(media_type.to_owned()));
        let attachment =
            self.store.add_attachment(conversation_id, None, &name, &media_type, &data).await.map_err(storage)?;
        tracing::info!(plugin = %plugin, file = %attachment.id, "plugin attached a file");
        Ok(attachment.id)
    }
}

/// Plugins' access to the model (permission `ai`): the default model unless the request
/// names one (`provider/model`).
#[derive(Debug, Clone)]
pub struct ModelsAi {
    models: SharedModels,
}

impl ModelsAi {
    /// The AI service over the shared model registry.
    pub fn new(models: SharedModels) -> ModelsAi {
        ModelsAi { models }
    }
}

#[async_trait]
impl AiService for ModelsAi {
    async fn complete(&self, plugin: &PluginId, request: CompletionRequest) -> Result<Completion, ServiceError> {
        let wanted = (!request.model.is_empty()).then(|| request.model.clone());
        let (provider, model) = self
            .models
            .read()
            .await
            .resolve(wanted.as_deref())
            .await
            .map_err(|error| ServiceError::new(ServiceErrorKind::Unavailable, error.to_string()))?;
        tracing::debug!(plugin = %plugin, provider = provider.id(), %model, "plugin asks the model");
        // The plugin gets the whole completion: drain the pieces (a full channel would stall
        // the provider; a closed one would tell it the listener left).
        let (sink, mut pieces) = mpsc::channel(64);
        tokio::spawn(async move { while pieces.recv().await.is_some() {} });
        provider
            .complete(CompletionRequest { model, ..request }, sink)
            .await
            .map_err(|error| ServiceError::new(ServiceErrorKind::Unavailable, error.to_string()))
    }
}
