//! The local engine end to end: a tiny random model written by the test, and SmolLM2's
//! real weights.

mod engine;
mod smollm;
