//! Plugboard's embedded local model: GGUF language models run inside the Plugboard
//! process, on the CPU, in pure Rust, so a fresh install can chat with no other software.
//!
//! - [`LocalModel`] is one loaded model: weights shared by every conversation, a KV cache
//!   per sequence, a bounded queue in front of a fixed number of concurrent sequences.
//! - [`LocalProvider`] offers it to the chat core as the `local` provider, and says
//!   exactly what is wrong (still downloading, no file, load failed) when it cannot.
//! - [`hub`] fetches models from the Hugging Face hub into a cache, resumably.
//! - [`tiny`] writes a tiny random model, for tests and benchmarks.

mod engine;
mod error;
pub mod fixtures;
mod generate;
mod gguf;
pub mod hub;
mod model;
mod prefix;
mod provider;
mod template;
pub mod tiny;
mod tokens;

pub use error::LocalError;
pub use generate::{Generation, Sampling};
pub use model::{LocalConfig, LocalModel, ModelSummary};
pub use provider::{LocalProvider, LocalState};
pub use template::Prompt;
