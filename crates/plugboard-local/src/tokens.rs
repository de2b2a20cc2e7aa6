//! The tokenizer from the GGUF's own vocabulary, stop tokens, and streaming detokenisation.

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use tokenizers::Tokenizer;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;

use crate::error::LocalError;
use crate::gguf::{metadata_string, metadata_u32};

/// End-of-turn tokens of the common chat formats; any that the vocabulary has stop generation.
const END_TOKENS: &[&str] =
    &["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|end|>", "<end_of_turn>"];

pub(crate) struct Tokens {
    tokenizer: Tokenizer,
    /// Every token that ends generation.
    pub(crate) stops: Vec<u32>,
    /// The BOS and EOS token texts, for chat templates.
    pub(crate) bos: String,
    pub(crate) eos: String,
}

impl Tokens {
    pub(crate) fn from_gguf(content: &Content) -> Result<Tokens, String> {
        let mut tokenizer =
            Tokenizer::from_gguf(content).map_err(|error| format!("cannot build its tokenizer: {error}"))?;
        let pre = metadata_string(content, "tokenizer.ggml.pre").unwrap_or_else(|| "gpt2".into());
        // candle handles the qwen2 and llama3 pre-tokenizers; for the others it falls back to
        // GPT-2 byte-level *with* a prefix space, which gives ids llama.cpp (and the model's
        // training) never produce. SmolLM's `smollm` splits digits one by one first.
        match pre.as_str() {
            "qwen2" | "llama3" | "smaug-bpe" | "lfm2" => {}
            "smollm" => {
                tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
                    Digits::new(true).into(),
                    ByteLevel::new(false, true, true).into(),
                ])));
                tokenizer.with_decoder(Some(ByteLevelDecoder::new(false, true, true)));
            }
            _ => {
                tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
                tokenizer.with_decoder(Some(ByteLevelDecoder::new(false, true, true)));
            }
        }
        let text_of =
            |key: &str| metadata_u32(content, key).and_then(|id| tokenizer.id_to_token(id)).unwrap_or_default();
        let bos = text_of("tokenizer.ggml.bos_token_id");
        let eos = text_of("tokenizer.ggml.eos_token_id");
        let mut stops: Vec<u32> =
            ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"]
                .iter()
                .filter_map(|key| metadata_u32(content, key))
                .chain(END_TOKENS.iter().filter_map(|token| tokenizer.token_to_id(token)))
                .collect();
        stops.sort_unstable();
        stops.dedup();
        if stops.is_empty() {
            return Err("its vocabulary has no end-of-generation token".into());
        }
        Ok(Tokens { tokenizer, stops, bos, eos })
    }

    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>, LocalError> {
        // The chat template writes BOS and the turn markers itself.
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|error| LocalError::Inference(format!("cannot tokenize: {error}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    pub(crate) fn decode(&self, ids: &[u32]) -> Result<String, LocalError> {
        self.tokenizer.decode(ids, true).map_err(|error| LocalError::Inference(format!("cannot detokenize: {error}")))
    }

    pub(crate) fn is_stop(&self, id: u32) -> bool {
        self.stops.binary_search(&id).is_ok()
    }
}

/// Turns generated ids into text as they come, never splitting a UTF-8 character: a byte
/// token that starts a multi-byte character waits for the rest.
#[derive(Debug, Default)]
pub(crate) struct Detokenizer {
    ids: Vec<u32>,
    /// Ids before this were turned into text already; decoding restarts a little earlier
    /// (`prefix`) so that tokenizers which look at the previous token decode the same.
    read: usize,
    prefix: usize,
}

impl Detokenizer {
    /// Adds a token; returns the text it completes, if any.
    pub(crate) fn push(&mut self, tokens: &Tokens, id: u32) -> Result<Option<String>, LocalError> {
        self.ids.push(id);
        let before = tokens.decode(&self.ids[self.prefix..self.read])?;
        let now = tokens.decode(&self.ids[self.prefix..])?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') && now.is_char_boundary(before.len()) {
            let text = now[before.len()..].to_owned();
            self.prefix = self.read;
            self.read = self.ids.len();
            Ok(Some(text))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny::TinyModel;

    fn tokens() -> Tokens {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("tiny.gguf");
        TinyModel::default().write(&path).expect("write the tiny model");
        let content = Content::read(&mut std::fs::File::open(&path).expect("open")).expect("read");
        Tokens::from_gguf(&content).expect("tokenizer")
    }

    #[test]
    fn digits_are_split_one_by_one_and_no_prefix_space_is_added() {
        let tokens = tokens();
        let ids = tokens.encode("42 hello").expect("encode");
        let pieces: Vec<String> = ids.iter().map(|id| tokens.tokenizer.id_to_token(*id).expect("known id")).collect();
        assert_eq!(pieces, ["4", "2", "Ġ", "hel", "lo"]);
        assert!(!pieces[0].starts_with('Ġ'), "no prefix space: {pieces:?}");
        assert_eq!(tokens.decode(&ids).expect("decode"), "42 hello");
    }

    #[test]
    fn special_tokens_are_single_ids_and_stop() {
        let tokens = tokens();
        assert_eq!(tokens.encode("<|im_start|>user").expect("encode")[0], 1);
        assert!(tokens.is_stop(0) && tokens.is_stop(2) && !tokens.is_stop(1));
        assert_eq!(tokens.bos, "<|im_start|>");
    }

    #[test]
    fn streaming_never_splits_a_character() {
        let tokens = tokens();
        let text = "é🙂 ok";
        let ids = tokens.encode(text).expect("encode");
        assert!(ids.len() >= 7, "multi-byte characters are several byte tokens: {ids:?}");
        let mut detokenizer = Detokenizer::default();
        let mut pieces = Vec::new();
        for id in ids {
            if let Some(piece) = detokenizer.push(&tokens, id).expect("decode") {
                assert!(!piece.contains('\u{FFFD}'), "a broken character was emitted: {piece:?}");
                pieces.push(piece);
            }
        }
        assert_eq!(pieces.concat(), text);
        assert!(pieces.len() >= 3, "text came out as it was completed: {pieces:?}");
    }
}
