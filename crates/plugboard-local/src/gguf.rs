//! Reading a GGUF file's metadata, shared by the loader, the tokenizer, the chat
//! template and the forward pass.

use candle_core::quantized::gguf_file::Content;

/// The string at `key`, if there is one.
pub(crate) fn metadata_string(content: &Content, key: &str) -> Option<String> {
    content.metadata.get(key).and_then(|value| value.to_string().ok()).cloned()
}

/// The number at `key`, if there is one.
pub(crate) fn metadata_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|value| value.to_u32().ok())
}
