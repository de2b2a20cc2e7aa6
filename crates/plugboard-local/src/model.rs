//! Loading a GGUF file: weights, tokenizer, chat template, stop tokens, limits.

use std::fs::File;
use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use candle_core::quantized::gguf_file::{self, Content, TensorInfo};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_llama as llama, quantized_qwen2 as qwen2, quantized_qwen3 as qwen3};
use serde::Serialize;

use crate::error::{LocalError, SUPPORTED};
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
    /// Re-encode Q4_1/Q5_0/Q5_1 tensors as Q8_0 when loading: candle has AVX2 kernels
    /// for Q8_0 but not for those, and the re-encoded model runs about twice as fast.
    pub requantize: bool,
}

impl Default for LocalConfig {
    fn default() -> LocalConfig {
        LocalConfig {
            max_concurrent: 2,
            max_queued: 16,
            max_context: 4096,
            system_prompt: "You are a helpful assistant.".into(),
            requantize: true,
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
    /// Tensors re-encoded as Q8_0 at load.
    pub requantized_tensors: usize,
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
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    pub(crate) waiting: AtomicUsize,
}

/// The weights. llama and qwen3 weights are shared between sequences (a clone shares
/// the quantized tensors and gets an empty KV cache); candle's qwen2 model cannot be
/// cloned, so its sequences take turns on one instance.
pub(crate) enum Weights {
    Llama(llama::ModelWeights),
    Qwen3(qwen3::ModelWeights),
    Qwen2(Mutex<qwen2::ModelWeights>),
}

/// One sequence's view of the model: its own KV cache.
pub(crate) enum Sequence<'a> {
    Llama(llama::ModelWeights),
    Qwen3(qwen3::ModelWeights),
    Qwen2(MutexGuard<'a, qwen2::ModelWeights>),
}

impl Weights {
    pub(crate) fn sequence(&self) -> Sequence<'_> {
        match self {
            Weights::Llama(weights) => {
                let mut weights = weights.clone();
                weights.clear_kv_cache();
                Sequence::Llama(weights)
            }
            Weights::Qwen3(weights) => {
                let mut weights = weights.clone();
                weights.clear_kv_cache();
                Sequence::Qwen3(weights)
            }
            Weights::Qwen2(weights) => {
                // A panic in another sequence poisons the lock but leaves the weights intact;
                // the cache is cleared here anyway.
                let mut weights = weights.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                weights.clear_kv_cache();
                Sequence::Qwen2(weights)
            }
        }
    }
}

impl Sequence<'_> {
    /// Runs `input` (token ids at positions `position..`) and gives the next token's logits.
    pub(crate) fn forward(&mut self, input: &[u32], position: usize) -> candle_core::Result<Tensor> {
        let input = Tensor::new(input, &Device::Cpu)?.unsqueeze(0)?;
        let logits = match self {
            Sequence::Llama(weights) => weights.forward(&input, position)?,
            Sequence::Qwen3(weights) => weights.forward(&input, position)?,
            Sequence::Qwen2(weights) => weights.forward(&input, position)?,
        };
        logits.squeeze(0)
    }
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
        let model_context = content
            .metadata
            .get(&format!("{architecture}.context_length"))
            .and_then(|value| value.to_u32().ok())
            .map_or(4096, |length| length as usize);
        let mut context_length = model_context.min(config.max_context);
        if architecture == "llama" {
            // candle's llama precomputes rotary embeddings for this many positions.
            context_length = context_length.min(llama::MAX_SEQ_LEN);
        }

        let device = Device::Cpu;
        let converted = if config.requantize { requantize(&content, &mut file, &device) } else { Ok(None) }
            .map_err(|error| load_error(format!("cannot re-encode its tensors: {error}")))?;
        let (weights, requantized_tensors) = match converted {
            Some((content, mut reader, count)) => (build(&architecture, content, &mut reader, &device), count),
            None => (build(&architecture, content, &mut file, &device), 0),
        };
        let weights = weights.map_err(|error| load_error(error.to_string()))?;
        let max_concurrent = match weights {
            Weights::Qwen2(_) => 1,
            _ => config.max_concurrent.max(1),
        };
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
            requantized_tensors,
            max_concurrent,
        };
        tracing::info!(model = %summary.name, architecture = %summary.architecture, context = context_length,
                       requantized = requantized_tensors, "loaded the local model {}", path.display());
        Ok(LocalModel {
            inner: Arc::new(Inner {
                summary,
                weights,
                tokens,
                template,
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

fn build<R: Read + Seek>(
    architecture: &str,
    content: Content,
    reader: &mut R,
    device: &Device,
) -> candle_core::Result<Weights> {
    Ok(match architecture {
        "qwen3" => Weights::Qwen3(qwen3::ModelWeights::from_gguf(content, reader, device)?),
        "qwen2" => Weights::Qwen2(Mutex::new(qwen2::ModelWeights::from_gguf(content, reader, device)?)),
        _ => Weights::Llama(llama::ModelWeights::from_gguf(content, reader, device)?),
    })
}

/// Whether a tensor is worth re-encoding as Q8_0 (no AVX kernel in candle for its type).
fn slow_to_run(info: &TensorInfo) -> bool {
    matches!(info.ggml_dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
        && info.shape.dims().last().is_some_and(|width| width % 32 == 0)
}

/// A model re-encoded in memory: its GGUF header, the file's bytes, tensors re-encoded.
type Reencoded = (Content, Cursor<Vec<u8>>, usize);

/// The model with its slow tensors re-encoded as Q8_0, as an in-memory GGUF, or `None`
/// when it has none.
fn requantize(content: &Content, file: &mut File, device: &Device) -> candle_core::Result<Option<Reencoded>> {
    if !content.tensor_infos.values().any(slow_to_run) {
        return Ok(None);
    }
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort_by_key(|name| content.tensor_infos[*name].offset);
    let mut tensors: Vec<(&str, QTensor)> = Vec::with_capacity(names.len());
    let mut count = 0;
    for name in names {
        let tensor = content.tensor(file, name, device)?;
        let tensor = if slow_to_run(&content.tensor_infos[name]) {
            count += 1;
            QTensor::quantize(&tensor.dequantize(device)?, GgmlDType::Q8_0)?
        } else {
            tensor
        };
        tensors.push((name.as_str(), tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> =
        content.metadata.iter().map(|(key, value)| (key.as_str(), value)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(name, tensor)| (*name, tensor)).collect();
    let mut buffer = Cursor::new(Vec::new());
    gguf_file::write(&mut buffer, &metadata, &tensor_refs)?;
    drop(tensors);
    buffer.set_position(0);
    let content = Content::read(&mut buffer)?;
    Ok(Some((content, buffer, count)))
}

pub(crate) fn metadata_string(content: &Content, key: &str) -> Option<String> {
    content.metadata.get(key).and_then(|value| value.to_string().ok()).cloned()
}

pub(crate) fn metadata_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|value| value.to_u32().ok())
}
