//! Loading a GGUF file: weights, tokenizer, chat template, stop tokens, limits.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use candle_core::quantized::gguf_file::Content;
use serde::Serialize;

use crate::engine::Weights;
use crate::error::{LocalError, SUPPORTED};
use crate::gguf::metadata_string;
use crate::prefix::Prefixes;
use crate::template::ChatTemplate;
use crate::tokens::Tokens;

/// How the local engine runs a model.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Replies generated at the same time; each has its own KV cache over the shared weights.
    pub max_concurrent: usize,
    /// Requests that may wait for a free slot; past that a request is refused as busy.
    pub max_queued: usize,
    /// Upper bound of the context, in tokens (the model's own length if smaller).
    pub max_context: usize,
    /// Sent as the system prompt when a conversation has none. Small models answer
    /// nonsense without one (SmolLM2's template default made greedy decoding babble).
    pub system_prompt: String,
    /// Threads each forward pass is split between (0: one per core).
    pub threads: usize,
    /// Memory for the KV caches of finished replies, which the next turn of their
    /// conversation continues instead of running the whole conversation again (0: none).
    pub prefix_cache_mb: usize,
    /// Streamed text is sent at most this often: tokens that come faster go together in one
    /// piece (0: every token alone).
    pub stream_interval_ms: u64,
}

impl Default for LocalConfig {
    fn default() -> LocalConfig {
        LocalConfig {
            max_concurrent: 2,
            max_queued: 16,
            max_context: 4096,
            system_prompt: "You are a helpful assistant.".into(),
            threads: 0,
            prefix_cache_mb: 256,
            stream_interval_ms: 25,
        }
    }
}

/// What a loaded model is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelSummary {
    /// The model's id in the `local` provider: the file name without `.gguf`.
    pub name: String,
    /// The GGUF file.
    pub file: PathBuf,
    /// `general.architecture`.
    pub architecture: String,
    /// Context used, in tokens.
    pub context_length: usize,
    /// Whether its chat template defines a tool-call format the engine understands.
    pub supports_tools: bool,
    /// Weight matrices re-encoded as Q8_0 at load: types the engine's kernels do not read
    /// as stored (Q4_0, Q4_1 and Q8_0 run as stored).
    pub requantized_tensors: usize,
    /// The matrix kernels this CPU runs (`avx2+fma` or `portable`).
    pub kernels: &'static str,
    /// Replies it generates at the same time.
    pub max_concurrent: usize,
}

/// One loaded model, cheap to clone and shared by every conversation.
#[derive(Clone)]
pub struct LocalModel {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel").field("summary", &self.inner.summary).finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) summary: ModelSummary,
    pub(crate) weights: Weights,
    pub(crate) tokens: Tokens,
    pub(crate) template: ChatTemplate,
    pub(crate) config: LocalConfig,
    pub(crate) prefixes: Prefixes,
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    pub(crate) waiting: AtomicUsize,
}

impl LocalModel {
    /// Loads a GGUF file. Blocking and CPU-heavy (seconds for a small model): call it from
    /// a blocking thread.
    pub fn load(path: &Path, config: LocalConfig) -> Result<LocalModel, LocalError> {
        let load_error = |message: String| LocalError::Load { path: path.to_owned(), message };
        let mut file =
            File::open(path).map_err(|error| LocalError::Read { path: path.to_owned(), message: error.to_string() })?;
        let content =
            Content::read(&mut file).map_err(|error| load_error(format!("it is not a GGUF model file ({error})")))?;
        let architecture = metadata_string(&content, "general.architecture")
            .ok_or_else(|| load_error("it has no `general.architecture`".into()))?;
        if !SUPPORTED.contains(&architecture.as_str()) {
            return Err(LocalError::UnsupportedArchitecture { path: path.to_owned(), architecture });
        }
        let tokens = Tokens::from_gguf(&content).map_err(load_error)?;
        let template = ChatTemplate::from_gguf(&content, &tokens).map_err(load_error)?;
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |count| count.get()),
            threads => threads,
        };
        let weights =
            Weights::load(&architecture, &content, &mut file, config.max_context, threads).map_err(load_error)?;
        let context_length = weights.shape.context;
        let max_concurrent = config.max_concurrent.max(1);
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().trim_end_matches(".gguf").to_owned())
            .unwrap_or_else(|| architecture.clone());
        let summary = ModelSummary {
            name,
            file: path.to_owned(),
            architecture,
            context_length,
            supports_tools: template.tool_format().is_some(),
            requantized_tensors: weights.reencoded,
            kernels: crate::engine::kernels(),
            max_concurrent,
        };
        tracing::info!(model = %summary.name, architecture = %summary.architecture, context = context_length,
                       requantized = summary.requantized_tensors, kernels = summary.kernels, threads, "loaded the local model {}", path.display());
        Ok(LocalModel {
            inner: Arc::new(Inner {
                summary,
                weights,
                tokens,
                template,
                prefixes: Prefixes::new(config.prefix_cache_mb << 20),
                config,
                slots: Arc::new(tokio::sync::Semaphore::new(max_concurrent)),
                waiting: AtomicUsize::new(0),
            }),
        })
    }

    /// What this model is.
    pub fn summary(&self) -> &ModelSummary {
        &self.inner.summary
    }

    /// Token ids of `text`, special tokens recognised (what the engine feeds the model).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, LocalError> {
        self.inner.tokens.encode(text)
    }

    /// Text of `ids`, special tokens left out.
    pub fn detokenize(&self, ids: &[u32]) -> Result<String, LocalError> {
        self.inner.tokens.decode(ids)
    }
}
