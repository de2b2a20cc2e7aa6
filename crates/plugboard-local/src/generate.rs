//! Generation: the prompt (system prompt, trimming), the queue in front of the model, and
//! the token loop on a blocking thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling as Mode};
use plugboard_types::{CompletionChunk, CompletionMessage, FinishReason, Role, ToolCall, ToolSpec, Usage};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::LocalError;
use crate::model::{Inner, LocalModel};
use crate::template::{Prompt, ToolCallSplitter};
use crate::tokens::Detokenizer;

/// Prompt tokens fed to the model in one step; long prompts go in several, which keeps the
/// attention scores of one step small.
const PREFILL_CHUNK: usize = 512;

/// How tokens are chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sampling {
    /// Softmax temperature; 0 picks the most likely token every time (greedy).
    pub temperature: f64,
    /// Nucleus sampling: the smallest set of tokens whose probabilities add up to this.
    pub top_p: f64,
    /// Penalty for tokens seen recently (1 = none).
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Seed of the sampler: the same seed, prompt and model give the same reply.
    pub seed: u64,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Keep generating past end-of-generation tokens, up to `max_tokens` (for benchmarks
    /// that need a fixed amount of work).
    pub until_limit: bool,
}

impl Default for Sampling {
    fn default() -> Sampling {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        Sampling {
            temperature: 0.7,
            top_p: 0.9,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed,
            max_tokens: 1024,
            until_limit: false,
        }
    }
}

/// A finished reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    /// The text (without tool-call markup).
    pub text: String,
    /// Tool calls the model asked for.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// Tokens in the prompt and generated.
    pub usage: Usage,
    /// Oldest messages left out so the prompt fits the context.
    pub trimmed_messages: usize,
    /// Prompt tokens whose keys and values came from an earlier reply (a conversation's
    /// previous turn) instead of being run again.
    pub cached_prompt_tokens: usize,
}

/// Frees a queue place when dropped.
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells the generating thread to stop when the request goes away.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl LocalModel {
    /// The prompt for `messages`: the configured system prompt first when they have none,
    /// and the oldest turns left out while it does not fit the context with `reserve`
    /// tokens to spare for the reply.
    pub fn prompt(
        &self,
        messages: &[CompletionMessage],
        tools: &[ToolSpec],
        reserve: usize,
    ) -> Result<(Prompt, Vec<u32>), LocalError> {
        let inner = &self.inner;
        let mut messages = messages.to_vec();
        if !messages.iter().any(|message| message.role == Role::System) {
            messages.insert(
                0,
                CompletionMessage {
                    role: Role::System,
                    content: inner.config.system_prompt.clone(),
                    tool_calls: Vec::new(),
                    tool_call_id: String::new(),
                },
            );
        }
        let limit = inner.summary.context_length;
        let mut trimmed_messages = 0;
        loop {
            let text = inner.template.render(&messages, tools)?;
            let ids = inner.tokens.encode(&text)?;
            if ids.len() + reserve <= limit {
                return Ok((Prompt { text, trimmed_messages }, ids));
            }
            // Leave out the oldest turn: its first message and what answers it, up to the
            // next user message; never the last message.
            let last = messages.len() - 1;
            let Some(first) = messages.iter().position(|message| message.role != Role::System).filter(|&i| i < last)
            else {
                return Err(LocalError::ContextOverflow { tokens: ids.len(), limit, reserved: reserve });
            };
            messages.remove(first);
            trimmed_messages += 1;
            while first < messages.len() - 1 && messages[first].role != Role::User {
                messages.remove(first);
                trimmed_messages += 1;
            }
        }
    }

    /// Generates a reply to `messages`, streaming text to `sink` as it comes. Waits for a
    /// free slot (or fails as busy when the queue is full); dropping the future or closing
    /// `sink` stops generation within a token.
    pub async fn generate(
        &self,
        messages: &[CompletionMessage],
        tools: &[ToolSpec],
        sampling: Sampling,
        sink: mpsc::Sender<CompletionChunk>,
    ) -> Result<Generation, LocalError> {
        let inner = self.inner.clone();
        let tools = if inner.summary.supports_tools { tools } else { &[] };
        let reserve = sampling.max_tokens.min(inner.summary.context_length / 2);
        let (prompt, ids) = self.prompt(messages, tools, reserve)?;

        let permit = match inner.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let queued = inner.waiting.fetch_add(1, Ordering::SeqCst);
                let _waiting = Waiting(&inner.waiting);
                if queued >= inner.config.max_queued {
                    return Err(LocalError::Busy { running: inner.summary.max_concurrent, queued });
                }
                inner
                    .slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| LocalError::Inference("the model was unloaded".into()))?
            }
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let with_tools = !tools.is_empty();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            run(&inner, ids, &sampling, with_tools, &sink, &cancel)
        });
        let mut generation =
            task.await.map_err(|error| LocalError::Inference(format!("the generating thread failed: {error}")))??;
        generation.trimmed_messages = prompt.trimmed_messages;
        Ok(generation)
    }
}

fn inference(error: impl std::fmt::Display) -> LocalError {
    LocalError::Inference(error.to_string())
}

/// The logits as a tensor, for the sampler.
fn tensor(logits: &[f32]) -> Result<Tensor, LocalError> {
    Tensor::from_slice(logits, logits.len(), &Device::Cpu).map_err(inference)
}

/// Streamed text on its way to the sink. Pieces that come faster than `interval` after
/// the last send wait and go together with the next one, so a fast model sends a few
/// tokens per chunk instead of waking the whole streaming path (pipeline, stream filters,
/// server-sent event, socket, client) for every token; a slow one still sends each token
/// as it comes. The first piece goes at once.
struct Outbox<'a> {
    sink: &'a mpsc::Sender<CompletionChunk>,
    interval: Duration,
    pending: String,
    sent: Option<Instant>,
}

impl<'a> Outbox<'a> {
    fn new(sink: &'a mpsc::Sender<CompletionChunk>, interval: Duration) -> Outbox<'a> {
        Outbox { sink, interval, pending: String::new(), sent: None }
    }

    /// Adds `piece`, sending what waits when the interval has passed; false when the
    /// receiver is gone.
    fn push(&mut self, piece: &str) -> bool {
        self.pending.push_str(piece);
        if self.sent.is_some_and(|sent| sent.elapsed() < self.interval) {
            return true;
        }
        self.flush()
    }

    /// Sends what waits; false when the receiver is gone.
    fn flush(&mut self) -> bool {
        if self.pending.is_empty() {
            return !self.sink.is_closed();
        }
        self.sent = Some(Instant::now());
        self.sink.blocking_send(CompletionChunk::Delta(std::mem::take(&mut self.pending))).is_ok()
    }
}

/// The token loop.
fn run(
    inner: &Inner,
    prompt: Vec<u32>,
    sampling: &Sampling,
    with_tools: bool,
    sink: &mpsc::Sender<CompletionChunk>,
    cancel: &AtomicBool,
) -> Result<Generation, LocalError> {
    let mode = if sampling.temperature <= 0.0 {
        Mode::ArgMax
    } else if sampling.top_p > 0.0 && sampling.top_p < 1.0 {
        Mode::TopP { p: sampling.top_p, temperature: sampling.temperature }
    } else {
        Mode::All { temperature: sampling.temperature }
    };
    let mut sampler = LogitsProcessor::from_sampling(sampling.seed, mode);
    let weights = &inner.weights;
    let mut sequence = inner.prefixes.take(weights, &prompt);
    let cached_prompt_tokens = sequence.len();
    let limit = inner.summary.context_length;
    let prompt_tokens = prompt.len();

    let mut logits = None;
    for chunk in prompt[cached_prompt_tokens..].chunks(PREFILL_CHUNK) {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        logits = Some(tensor(sequence.forward(weights, chunk).map_err(inference)?)?);
    }

    let mut tokens = prompt;
    let mut detokenizer = Detokenizer::default();
    let mut splitter = ToolCallSplitter::new(if with_tools { inner.template.tool_format() } else { None });
    let mut text = String::new();
    let mut generated = 0usize;
    let mut outbox = Outbox::new(sink, Duration::from_millis(inner.config.stream_interval_ms));
    let finish_reason = loop {
        let Some(current) = logits.take() else { break FinishReason::Cancelled };
        if cancel.load(Ordering::SeqCst) || sink.is_closed() {
            break FinishReason::Cancelled;
        }
        if generated >= sampling.max_tokens || tokens.len() >= limit {
            break FinishReason::Length;
        }
        let current = if sampling.repeat_penalty != 1.0 {
            let start = tokens.len().saturating_sub(sampling.repeat_last_n);
            candle_transformers::utils::apply_repeat_penalty(&current, sampling.repeat_penalty, &tokens[start..])
                .map_err(inference)?
        } else {
            current
        };
        let next = sampler.sample(&current).map_err(inference)?;
        if inner.tokens.is_stop(next) && !sampling.until_limit {
            break FinishReason::Stop;
        }
        generated += 1;
        tokens.push(next);
        if let Some(piece) = detokenizer.push(&inner.tokens, next)? {
            let visible = splitter.push(&piece);
            text.push_str(&visible);
            if !outbox.push(&visible) {
                break FinishReason::Cancelled;
            }
        }
        logits = Some(tensor(sequence.forward(weights, &[next]).map_err(inference)?)?);
    };
    // Every token in `tokens` has run (a cancelled prompt only partly: `put` keeps what did).
    inner.prefixes.put(tokens, sequence);
    let (rest, tool_calls) = splitter.finish();
    text.push_str(&rest);
    outbox.push(&rest);
    outbox.flush();
    for call in &tool_calls {
        let _ = sink.blocking_send(CompletionChunk::ToolCall(call.clone()));
    }
    let finish_reason = if !tool_calls.is_empty() && finish_reason == FinishReason::Stop {
        FinishReason::ToolCalls
    } else {
        finish_reason
    };
    Ok(Generation {
        text,
        tool_calls,
        finish_reason,
        usage: Usage { prompt_tokens: prompt_tokens as u32, completion_tokens: generated as u32 },
        trimmed_messages: 0,
        cached_prompt_tokens,
    })
}
