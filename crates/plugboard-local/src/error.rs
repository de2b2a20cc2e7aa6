//! What can go wrong with the local model.

use std::path::PathBuf;

/// Why the local model could not load or answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    /// The model file is missing or unreadable.
    #[error("cannot read the model file {}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The file is not a GGUF model this engine can run.
    #[error("cannot load the model {}: {message}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The GGUF's architecture is not one the engine implements.
    #[error(
        "the model {} has architecture `{architecture}`, which the local engine cannot run (it runs {}); pick a GGUF of one of those, or serve this one with an OpenAI-compatible server",
        path.display(), SUPPORTED.join(", ")
    )]
    UnsupportedArchitecture {
        /// The file.
        path: PathBuf,
        /// What it declares.
        architecture: String,
    },
    /// The chat template failed to render.
    #[error("the model's chat template failed: {0}")]
    Template(String),
    /// The conversation does not fit the context even after trimming old turns.
    #[error(
        "the prompt needs {tokens} tokens but the model's context holds {limit} (with {reserved} kept for the reply); shorten the last message or the system prompt"
    )]
    ContextOverflow {
        /// Prompt tokens after trimming.
        tokens: usize,
        /// The context length.
        limit: usize,
        /// Tokens reserved for the reply.
        reserved: usize,
    },
    /// Every slot is busy and the queue is full.
    #[error(
        "the local model is busy: {running} replies are being generated and {queued} are waiting; try again in a moment"
    )]
    Busy {
        /// Sequences running.
        running: usize,
        /// Requests waiting.
        queued: usize,
    },
    /// Inference failed.
    #[error("the local model failed while generating: {0}")]
    Inference(String),
}

/// Architectures the engine runs.
pub(crate) const SUPPORTED: &[&str] = &["llama", "qwen2", "qwen3"];
