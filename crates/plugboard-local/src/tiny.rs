//! A tiny GGUF model (llama, qwen2 or qwen3 architecture) with random weights and a byte-level vocabulary,
//! written on the spot: tests and benchmarks of the engine (and of the server around it)
//! run the real loading, templating, tokenizing and generating code on it in milliseconds.
//! Its replies are gibberish by design.

use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

/// What kind of tiny model to write.
#[derive(Debug, Clone)]
pub struct TinyModel {
    /// Seed of the random weights.
    pub seed: u64,
    /// Context length in the metadata.
    pub context_length: u32,
    /// Chat template; `None` leaves it out (the engine then uses ChatML).
    pub chat_template: Option<String>,
    /// A model whose every reply is empty: its final norm is zero, so all logits tie and
    /// the first token, `<|endoftext|>`, wins.
    pub quiet: bool,
    /// `llama`, `qwen2` (attention biases) or `qwen3` (query and key norms).
    pub architecture: &'static str,
}

impl Default for TinyModel {
    fn default() -> TinyModel {
        TinyModel { seed: 7, context_length: 256, chat_template: None, quiet: false, architecture: "llama" }
    }
}

/// Special tokens, ids 0, 1, 2.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
/// Extra merged tokens after the 256 byte tokens (with their merges).
const MERGES: [(&str, &str); 4] = [("h", "e"), ("Ġ", "t"), ("he", "l"), ("l", "o")];

const WIDTH: usize = 64;
const HEADS: u32 = 4;
const KV_HEADS: u32 = 2;
const FEED_FORWARD: usize = 128;
const BLOCKS: u32 = 2;

/// GPT-2's map of bytes to printable characters, which byte-level vocabularies are made of.
pub fn byte_chars() -> Vec<char> {
    let printable =
        |byte: u32| (33..=126).contains(&byte) || (161..=172).contains(&byte) || (174..=255).contains(&byte);
    let mut extra = 0;
    (0..256u32)
        .map(|byte| {
            if printable(byte) {
                char::from_u32(byte).unwrap_or('?')
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap_or('?')
            }
        })
        .collect()
}

/// xorshift64*: reproducible weights without a random-number crate.
struct Weights(u64);

impl Weights {
    fn values(&mut self, count: usize, scale: f32) -> Vec<f32> {
        (0..count)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
                (bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    fn tensor(&mut self, rows: usize, columns: usize, scale: f32, dtype: GgmlDType) -> candle_core::Result<QTensor> {
        let values = self.values(rows * columns, scale);
        QTensor::quantize(&Tensor::from_vec(values, (rows, columns), &Device::Cpu)?, dtype)
    }
}

fn ones(length: usize, value: f32) -> candle_core::Result<QTensor> {
    QTensor::quantize(&Tensor::from_vec(vec![value; length], length, &Device::Cpu)?, GgmlDType::F32)
}

impl TinyModel {
    /// The vocabulary: special tokens, the 256 byte tokens, merged tokens.
    pub fn vocabulary() -> Vec<String> {
        let mut tokens: Vec<String> = SPECIAL_TOKENS.iter().map(|token| token.to_string()).collect();
        tokens.extend(byte_chars().into_iter().map(String::from));
        tokens.extend(MERGES.iter().map(|(a, b)| format!("{a}{b}")));
        tokens
    }

    /// Writes the model to `path`.
    pub fn write(&self, path: &Path) -> candle_core::Result<()> {
        let tokens = TinyModel::vocabulary();
        let vocab = tokens.len();
        let mut rng = Weights(self.seed.max(1));
        let kv_width = WIDTH / HEADS as usize * KV_HEADS as usize;
        let mut tensors: Vec<(String, QTensor)> = vec![
            ("token_embd.weight".into(), rng.tensor(vocab, WIDTH, 1.0, GgmlDType::Q8_0)?),
            ("output_norm.weight".into(), ones(WIDTH, if self.quiet { 0.0 } else { 1.0 })?),
        ];
        // The output rows of the special tokens are zero, so a (non-quiet) model never
        // stops by itself: a reply runs to its token limit.
        let mut output = rng.values(vocab * WIDTH, 1.0);
        output[..SPECIAL_TOKENS.len() * WIDTH].fill(0.0);
        tensors.push((
            "output.weight".into(),
            QTensor::quantize(&Tensor::from_vec(output, (vocab, WIDTH), &Device::Cpu)?, GgmlDType::Q8_0)?,
        ));
        for block in 0..BLOCKS {
            let name = |part: &str| format!("blk.{block}.{part}.weight");
            // Q4_1 where the real SmolLM2 file has it; the attention output in F16, which
            // loading re-encodes as Q8_0.
            tensors.push((name("attn_q"), rng.tensor(WIDTH, WIDTH, 0.3, GgmlDType::Q4_1)?));
            tensors.push((name("attn_k"), rng.tensor(kv_width, WIDTH, 0.3, GgmlDType::Q4_1)?));
            tensors.push((name("attn_v"), rng.tensor(kv_width, WIDTH, 0.3, GgmlDType::Q8_0)?));
            tensors.push((name("attn_output"), rng.tensor(WIDTH, WIDTH, 0.3, GgmlDType::F16)?));
            tensors.push((name("ffn_gate"), rng.tensor(FEED_FORWARD, WIDTH, 0.3, GgmlDType::Q4_1)?));
            tensors.push((name("ffn_up"), rng.tensor(FEED_FORWARD, WIDTH, 0.3, GgmlDType::Q8_0)?));
            tensors.push((name("ffn_down"), rng.tensor(WIDTH, FEED_FORWARD, 0.3, GgmlDType::Q8_0)?));
            tensors.push((name("attn_norm"), ones(WIDTH, 1.0)?));
            tensors.push((name("ffn_norm"), ones(WIDTH, 1.0)?));
            match self.architecture {
                "qwen2" => {
                    let bias = |rng: &mut Weights, length: usize| {
                        QTensor::quantize(
                            &Tensor::from_vec(rng.values(length, 0.1), length, &Device::Cpu)?,
                            GgmlDType::F32,
                        )
                    };
                    tensors.push((format!("blk.{block}.attn_q.bias"), bias(&mut rng, WIDTH)?));
                    tensors.push((format!("blk.{block}.attn_k.bias"), bias(&mut rng, kv_width)?));
                    tensors.push((format!("blk.{block}.attn_v.bias"), bias(&mut rng, kv_width)?));
                }
                "qwen3" => {
                    tensors.push((name("attn_q_norm"), ones(WIDTH / HEADS as usize, 1.0)?));
                    tensors.push((name("attn_k_norm"), ones(WIDTH / HEADS as usize, 1.0)?));
                }
                _ => {}
            }
        }

        let token_types: Vec<Value> =
            (0..vocab).map(|id| Value::I32(if id < SPECIAL_TOKENS.len() { 3 } else { 1 })).collect();
        let arch = self.architecture;
        let key = |name: &str| format!("{arch}.{name}");
        let mut metadata: Vec<(String, Value)> = vec![
            ("general.architecture".into(), Value::String(arch.into())),
            ("general.name".into(), Value::String("tiny".into())),
            (key("context_length"), Value::U32(self.context_length)),
            (key("embedding_length"), Value::U32(WIDTH as u32)),
            (key("block_count"), Value::U32(BLOCKS)),
            (key("feed_forward_length"), Value::U32(FEED_FORWARD as u32)),
            (key("attention.head_count"), Value::U32(HEADS)),
            (key("attention.head_count_kv"), Value::U32(KV_HEADS)),
            (key("attention.key_length"), Value::U32(WIDTH as u32 / HEADS)),
            (key("rope.dimension_count"), Value::U32(WIDTH as u32 / HEADS)),
            (key("rope.freq_base"), Value::F32(10000.0)),
            (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
            ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
            ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
            ("tokenizer.ggml.tokens".into(), Value::Array(tokens.into_iter().map(Value::String).collect())),
            ("tokenizer.ggml.token_type".into(), Value::Array(token_types)),
            (
                "tokenizer.ggml.merges".into(),
                Value::Array(MERGES.iter().map(|(a, b)| Value::String(format!("{a} {b}"))).collect()),
            ),
            ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
            ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
            ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
        ];
        if let Some(template) = &self.chat_template {
            metadata.push(("tokenizer.chat_template".into(), Value::String(template.clone())));
        }
        let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(key, value)| (key.as_str(), value)).collect();
        let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(name, tensor)| (name.as_str(), tensor)).collect();
        let mut file = std::fs::File::create(path)?;
        gguf_file::write(&mut file, &metadata, &tensors)
    }
}
