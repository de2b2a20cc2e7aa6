//! The forward pass of llama-style decoder models (llama, qwen2, qwen3) over GGUF weights.
//!
//! Written for decoding on a few CPU cores, where a token's work is ~200 matrix-vector
//! products over weights read once from memory: the weights stay in their quantised
//! blocks ([`quant`]), the query/key/value and gate/up projections each run as one
//! product, every buffer of a sequence is allocated once and reused, and the products are
//! split between the threads of one pool with no other synchronisation between them.
//! A prompt runs as a batch, each weight row read once for all its tokens.

mod quant;

use std::io::{Read, Seek};

use candle_core::Device;
use candle_core::quantized::QTensor;
use candle_core::quantized::gguf_file::Content;

pub(crate) use quant::kernels;
use quant::{Activations, BLOCK, Matrix, RawTensor};

/// How rotary position embeddings pair a head's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RopeStyle {
    /// Neighbours `(2i, 2i+1)`: llama in GGUF files (its converter permutes the weights).
    Interleaved,
    /// Halves `(i, i+n/2)`: qwen2 and qwen3.
    Halves,
}

/// A model's shape, read from the GGUF metadata.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) width: usize,
    pub(crate) layers: usize,
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_width: usize,
    pub(crate) feed_forward: usize,
    pub(crate) vocabulary: usize,
    pub(crate) context: usize,
    epsilon: f32,
    rope_style: RopeStyle,
    rope_width: usize,
}

struct Layer {
    attention_norm: Vec<f32>,
    /// Query, key and value projections stacked.
    qkv: Matrix,
    /// Their biases (qwen2), stacked the same way.
    qkv_bias: Option<Vec<f32>>,
    /// Per-head norms of queries and keys (qwen3).
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    attention_output: Matrix,
    ffn_norm: Vec<f32>,
    /// Gate and up projections stacked.
    gate_up: Matrix,
    down: Matrix,
}

/// A loaded model's weights, shared by every sequence.
pub(crate) struct Weights {
    pub(crate) shape: Shape,
    embedding: Matrix,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    /// `None`: tied to the embedding.
    output: Option<Matrix>,
    /// cos and sin of each position's angle for each rotated pair, `context × rope_width/2`.
    rope_cos: Vec<f32>,
    rope_sin: Vec<f32>,
    /// Tensors re-encoded as Q8_0 at load (types the kernels do not read directly).
    pub(crate) reencoded: usize,
    pool: rayon::ThreadPool,
}

fn metadata_u32(content: &Content, key: &str) -> Option<usize> {
    crate::gguf::metadata_u32(content, key).map(|value| value as usize)
}

fn metadata_f32(content: &Content, key: &str) -> Option<f32> {
    content.metadata.get(key).and_then(|value| value.to_f32().ok())
}

/// Reads tensors by name, counting the ones re-encoded.
struct Loader<'a, R> {
    content: &'a Content,
    reader: &'a mut R,
    reencoded: usize,
}

impl<R: Read + Seek> Loader<'_, R> {
    fn tensor(&mut self, name: &str) -> Result<QTensor, String> {
        self.content
            .tensor(self.reader, name, &Device::Cpu)
            .map_err(|error| format!("cannot read tensor `{name}`: {error}"))
    }

    fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// A vector (norm weights, biases) as floats, checked to have `length` values.
    fn vector(&mut self, name: &str, length: usize) -> Result<Vec<f32>, String> {
        let tensor = self.tensor(name)?;
        let values = floats(&tensor).map_err(|error| format!("cannot read tensor `{name}`: {error}"))?;
        if values.len() != length {
            return Err(format!("tensor `{name}` has {} values where {length} were expected", values.len()));
        }
        Ok(values)
    }

    /// A matrix, checked to be `rows × columns`.
    fn matrix(&mut self, name: &str, rows: usize, columns: usize) -> Result<Matrix, String> {
        let tensor = self.tensor(name)?;
        let dims = tensor.shape().dims().to_vec();
        if dims != [rows, columns] {
            return Err(format!("tensor `{name}` has shape {dims:?} where [{rows}, {columns}] was expected"));
        }
        if !columns.is_multiple_of(BLOCK) {
            return Err(format!("tensor `{name}` is {columns} wide, not a multiple of {BLOCK}"));
        }
        let bytes = tensor.data().map_err(|error| format!("cannot read tensor `{name}`: {error}"))?;
        let raw = RawTensor { dtype: tensor.dtype(), rows, columns, bytes: &bytes };
        if let Some(matrix) = Matrix::from_raw(&raw) {
            return Ok(matrix);
        }
        self.reencoded += 1;
        let values = floats(&tensor).map_err(|error| format!("cannot read tensor `{name}`: {error}"))?;
        Ok(Matrix::q8_from_f32(&values, rows, columns))
    }
}

fn floats(tensor: &QTensor) -> candle_core::Result<Vec<f32>> {
    let values = tensor.dequantize(&Device::Cpu)?;
    values.flatten_all()?.to_vec1::<f32>()
}

impl Weights {
    /// Reads the weights of a llama, qwen2 or qwen3 model; `max_context` bounds the
    /// positions it is prepared for. Errors are messages about the file.
    pub(crate) fn load<R: Read + Seek>(
        architecture: &str,
        content: &Content,
        reader: &mut R,
        max_context: usize,
        threads: usize,
    ) -> Result<Weights, String> {
        let key = |name: &str| format!("{architecture}.{name}");
        let required = |name: &str| {
            metadata_u32(content, &key(name)).ok_or_else(|| format!("it has no `{}` in its metadata", key(name)))
        };
        let width = required("embedding_length")?;
        let layers = required("block_count")?;
        let heads = required("attention.head_count")?;
        let kv_heads = metadata_u32(content, &key("attention.head_count_kv")).unwrap_or(heads);
        let head_width = match metadata_u32(content, &key("attention.key_length")) {
            Some(length) => length,
            None if heads > 0 && width % heads == 0 => width / heads,
            None => return Err(format!("its width {width} is not a multiple of its {heads} heads")),
        };
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 {
            return Err(format!("{heads} attention heads cannot share {kv_heads} key/value heads"));
        }
        let rope_width = metadata_u32(content, &key("rope.dimension_count")).unwrap_or(head_width);
        if rope_width > head_width || !rope_width.is_multiple_of(2) {
            return Err(format!("rotary embeddings over {rope_width} of {head_width} dimensions are not supported"));
        }
        let feed_forward = required("feed_forward_length")?;
        let context = metadata_u32(content, &key("context_length")).unwrap_or(4096).min(max_context).max(1);
        let epsilon = metadata_f32(content, &key("attention.layer_norm_rms_epsilon")).unwrap_or(1e-5);
        let base = metadata_f32(content, &key("rope.freq_base")).unwrap_or(10_000.0);
        let rope_style = if architecture == "llama" { RopeStyle::Interleaved } else { RopeStyle::Halves };

        let mut loader = Loader { content, reader, reencoded: 0 };
        let vocabulary = match content.tensor_infos.get("token_embd.weight") {
            Some(info) => info.shape.dims()[0],
            None => return Err("it has no `token_embd.weight` tensor".into()),
        };
        let embedding = loader.matrix("token_embd.weight", vocabulary, width)?;
        let output =
            if loader.has("output.weight") { Some(loader.matrix("output.weight", vocabulary, width)?) } else { None };
        let output_norm = loader.vector("output_norm.weight", width)?;
        // Llama 3's per-frequency scaling of long contexts, when the file has it.
        let frequency_factors = if loader.has("rope_freqs.weight") {
            Some(loader.vector("rope_freqs.weight", rope_width / 2)?)
        } else {
            None
        };

        let q_rows = heads * head_width;
        let kv_rows = kv_heads * head_width;
        let mut blocks = Vec::with_capacity(layers);
        for block in 0..layers {
            let name = |part: &str| format!("blk.{block}.{part}");
            let qkv = Matrix::stack(vec![
                loader.matrix(&name("attn_q.weight"), q_rows, width)?,
                loader.matrix(&name("attn_k.weight"), kv_rows, width)?,
                loader.matrix(&name("attn_v.weight"), kv_rows, width)?,
            ]);
            let qkv_bias = if loader.has(&name("attn_q.bias")) {
                let mut bias = loader.vector(&name("attn_q.bias"), q_rows)?;
                bias.extend(loader.vector(&name("attn_k.bias"), kv_rows)?);
                bias.extend(loader.vector(&name("attn_v.bias"), kv_rows)?);
                Some(bias)
            } else {
                None
            };
            let q_norm = if loader.has(&name("attn_q_norm.weight")) {
                Some(loader.vector(&name("attn_q_norm.weight"), head_width)?)
            } else {
                None
            };
            let k_norm = if loader.has(&name("attn_k_norm.weight")) {
                Some(loader.vector(&name("attn_k_norm.weight"), head_width)?)
            } else {
                None
            };
            blocks.push(Layer {
                attention_norm: loader.vector(&name("attn_norm.weight"), width)?,
                qkv,
                qkv_bias,
                q_norm,
                k_norm,
                attention_output: loader.matrix(&name("attn_output.weight"), width, q_rows)?,
                ffn_norm: loader.vector(&name("ffn_norm.weight"), width)?,
                gate_up: Matrix::stack(vec![
                    loader.matrix(&name("ffn_gate.weight"), feed_forward, width)?,
                    loader.matrix(&name("ffn_up.weight"), feed_forward, width)?,
                ]),
                down: loader.matrix(&name("ffn_down.weight"), width, feed_forward)?,
            });
        }

        let pairs = rope_width / 2;
        let mut rope_cos = Vec::with_capacity(context * pairs);
        let mut rope_sin = Vec::with_capacity(context * pairs);
        for position in 0..context {
            for pair in 0..pairs {
                let mut frequency = 1.0 / base.powf((2 * pair) as f32 / rope_width as f32);
                if let Some(factors) = &frequency_factors {
                    frequency /= factors[pair];
                }
                let angle = position as f32 * frequency;
                rope_cos.push(angle.cos());
                rope_sin.push(angle.sin());
            }
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|index| format!("plugboard-model-{index}"))
            .build()
            .map_err(|error| format!("cannot start the model's threads: {error}"))?;
        Ok(Weights {
            shape: Shape {
                width,
                layers,
                heads,
                kv_heads,
                head_width,
                feed_forward,
                vocabulary,
                context,
                epsilon,
                rope_style,
                rope_width,
            },
            embedding,
            layers: blocks,
            output_norm,
            output,
            rope_cos,
            rope_sin,
            reencoded: loader.reencoded,
            pool,
        })
    }

    /// A new sequence: an empty KV cache for these weights.
    pub(crate) fn sequence(&self) -> Sequence {
        Sequence {
            cache: (0..self.shape.layers).map(|_| Cache::default()).collect(),
            kv_width: self.shape.kv_heads * self.shape.head_width,
            length: 0,
            buffers: Buffers::default(),
        }
    }
}

/// One layer's keys and values, `positions × kv_heads·head_width` each.
#[derive(Default)]
struct Cache {
    keys: Vec<f32>,
    values: Vec<f32>,
}

/// Working memory of a forward pass, kept between tokens.
#[derive(Default)]
struct Buffers {
    hidden: Vec<f32>,
    normed: Vec<f32>,
    qkv: Vec<f32>,
    attention: Vec<f32>,
    projected: Vec<f32>,
    gate_up: Vec<f32>,
    activated: Vec<f32>,
    activations: Vec<Activations>,
    scratch: Vec<f32>,
    scores: Vec<Vec<f32>>,
    logits: Vec<f32>,
}

/// One sequence: its own KV cache for the shared weights (those it was made by).
pub(crate) struct Sequence {
    cache: Vec<Cache>,
    kv_width: usize,
    length: usize,
    buffers: Buffers,
}

impl std::fmt::Debug for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequence").field("length", &self.length).finish_non_exhaustive()
    }
}

fn rms_norm(x: &[f32], weight: &[f32], epsilon: f32, out: &mut [f32]) {
    let mean = x.iter().map(|value| value * value).sum::<f32>() / x.len() as f32;
    let scale = 1.0 / (mean + epsilon).sqrt();
    for ((out, value), weight) in out.iter_mut().zip(x).zip(weight) {
        *out = value * scale * weight;
    }
}

fn rms_norm_in_place(x: &mut [f32], weight: &[f32], epsilon: f32) {
    let mean = x.iter().map(|value| value * value).sum::<f32>() / x.len() as f32;
    let scale = 1.0 / (mean + epsilon).sqrt();
    for (value, weight) in x.iter_mut().zip(weight) {
        *value *= scale * weight;
    }
}

fn quantize_rows(values: &[f32], width: usize, activations: &mut Vec<Activations>) {
    let rows = values.len() / width;
    activations.resize_with(rows.max(activations.len()), Activations::default);
    for (row, activation) in values.chunks_exact(width).zip(activations.iter_mut()) {
        activation.quantize(row);
    }
}

impl Sequence {
    /// Tokens in the cache.
    pub(crate) fn len(&self) -> usize {
        self.length
    }

    /// A new sequence holding this one's first `length` positions.
    pub(crate) fn prefix(&self, length: usize) -> Sequence {
        let length = length.min(self.length);
        let width = length * self.kv_width;
        Sequence {
            cache: self
                .cache
                .iter()
                .map(|cache| Cache { keys: cache.keys[..width].to_vec(), values: cache.values[..width].to_vec() })
                .collect(),
            kv_width: self.kv_width,
            length,
            buffers: Buffers::default(),
        }
    }

    /// Memory held by the KV cache, in bytes.
    pub(crate) fn cache_bytes(&self) -> usize {
        self.cache.iter().map(|cache| (cache.keys.capacity() + cache.values.capacity()) * size_of::<f32>()).sum()
    }

    /// Runs `tokens` (at positions `len()..`) through `weights` (the ones this sequence
    /// was made by) and gives the logits after the last one.
    pub(crate) fn forward(&mut self, weights: &Weights, tokens: &[u32]) -> Result<&[f32], String> {
        let shape = &weights.shape;
        if tokens.is_empty() {
            return Err("no tokens to run".into());
        }
        if self.length + tokens.len() > shape.context {
            return Err(format!(
                "{} tokens do not fit the context of {} after {} cached",
                tokens.len(),
                shape.context,
                self.length
            ));
        }
        if let Some(&token) = tokens.iter().find(|&&token| token as usize >= shape.vocabulary) {
            return Err(format!("token {token} is outside the vocabulary of {}", shape.vocabulary));
        }
        weights.pool.install(|| self.run(weights, tokens));
        Ok(&self.buffers.logits)
    }

    fn run(&mut self, weights: &Weights, tokens: &[u32]) {
        let shape = &weights.shape;
        let count = tokens.len();
        let width = shape.width;
        let q_width = shape.heads * shape.head_width;
        let kv_width = shape.kv_heads * shape.head_width;
        let qkv_width = q_width + 2 * kv_width;
        let buffers = &mut self.buffers;
        buffers.hidden.resize(count * width, 0.0);
        buffers.normed.resize(count * width, 0.0);
        buffers.qkv.resize(count * qkv_width, 0.0);
        buffers.attention.resize(count * q_width, 0.0);
        buffers.projected.resize(count * width, 0.0);
        buffers.gate_up.resize(count * 2 * shape.feed_forward, 0.0);
        buffers.activated.resize(count * shape.feed_forward, 0.0);
        for (token, hidden) in tokens.iter().zip(buffers.hidden.chunks_exact_mut(width)) {
            weights.embedding.row_into(*token as usize, hidden);
        }

        for (layer, cache) in weights.layers.iter().zip(&mut self.cache) {
            // Attention.
            for (x, out) in buffers.hidden.chunks_exact(width).zip(buffers.normed.chunks_exact_mut(width)) {
                rms_norm(x, &layer.attention_norm, shape.epsilon, out);
            }
            quantize_rows(&buffers.normed, width, &mut buffers.activations);
            layer.qkv.matmul(&buffers.activations[..count], &mut buffers.qkv, &mut buffers.scratch);
            for (index, row) in buffers.qkv.chunks_exact_mut(qkv_width).enumerate() {
                if let Some(bias) = &layer.qkv_bias {
                    row.iter_mut().zip(bias).for_each(|(value, bias)| *value += bias);
                }
                let (queries, rest) = row.split_at_mut(q_width);
                let (keys, values) = rest.split_at_mut(kv_width);
                let position = self.length + index;
                for head in queries.chunks_exact_mut(shape.head_width) {
                    if let Some(norm) = &layer.q_norm {
                        rms_norm_in_place(head, norm, shape.epsilon);
                    }
                    weights.rope(head, position);
                }
                for head in keys.chunks_exact_mut(shape.head_width) {
                    if let Some(norm) = &layer.k_norm {
                        rms_norm_in_place(head, norm, shape.epsilon);
                    }
                    weights.rope(head, position);
                }
                cache.keys.extend_from_slice(keys);
                cache.values.extend_from_slice(values);
            }
            attend(shape, cache, self.length, &buffers.qkv, &mut buffers.attention, &mut buffers.scores);
            quantize_rows(&buffers.attention, q_width, &mut buffers.activations);
            layer.attention_output.matmul(&buffers.activations[..count], &mut buffers.projected, &mut buffers.scratch);
            buffers.hidden.iter_mut().zip(&buffers.projected).for_each(|(x, add)| *x += add);

            // Feed-forward: down(silu(gate) · up).
            for (x, out) in buffers.hidden.chunks_exact(width).zip(buffers.normed.chunks_exact_mut(width)) {
                rms_norm(x, &layer.ffn_norm, shape.epsilon, out);
            }
            quantize_rows(&buffers.normed, width, &mut buffers.activations);
            layer.gate_up.matmul(&buffers.activations[..count], &mut buffers.gate_up, &mut buffers.scratch);
            let ff = shape.feed_forward;
            for (row, out) in buffers.gate_up.chunks_exact(2 * ff).zip(buffers.activated.chunks_exact_mut(ff)) {
                let (gate, up) = row.split_at(ff);
                for ((out, gate), up) in out.iter_mut().zip(gate).zip(up) {
                    *out = gate / (1.0 + (-gate).exp()) * up;
                }
            }
            quantize_rows(&buffers.activated, ff, &mut buffers.activations);
            layer.down.matmul(&buffers.activations[..count], &mut buffers.projected, &mut buffers.scratch);
            buffers.hidden.iter_mut().zip(&buffers.projected).for_each(|(x, add)| *x += add);
        }
        self.length += count;

        // Only the last token's logits are needed.
        let last = &buffers.hidden[(count - 1) * width..];
        rms_norm(last, &weights.output_norm, shape.epsilon, &mut buffers.normed[..width]);
        quantize_rows(&buffers.normed[..width], width, &mut buffers.activations);
        let output = weights.output.as_ref().unwrap_or(&weights.embedding);
        buffers.logits.resize(output.rows(), 0.0);
        output.matvec(&buffers.activations[0], &mut buffers.logits);
    }
}

impl Weights {
    fn rope(&self, head: &mut [f32], position: usize) {
        let pairs = self.shape.rope_width / 2;
        let cos = &self.rope_cos[position * pairs..(position + 1) * pairs];
        let sin = &self.rope_sin[position * pairs..(position + 1) * pairs];
        match self.shape.rope_style {
            RopeStyle::Interleaved => {
                for (pair, (cos, sin)) in cos.iter().zip(sin).enumerate() {
                    let (a, b) = (head[2 * pair], head[2 * pair + 1]);
                    head[2 * pair] = a * cos - b * sin;
                    head[2 * pair + 1] = a * sin + b * cos;
                }
            }
            RopeStyle::Halves => {
                for (pair, (cos, sin)) in cos.iter().zip(sin).enumerate() {
                    let (a, b) = (head[pair], head[pair + pairs]);
                    head[pair] = a * cos - b * sin;
                    head[pair + pairs] = a * sin + b * cos;
                }
            }
        }
    }
}

/// `a · b` in eight independent lanes, which the compiler turns into vector instructions
/// (a plain running sum must add in order, one value at a time).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(a, b)| a * b).sum();
    for (a, b) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += a[lane] * b[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Causal attention of the new tokens (queries in `qkv`, after `start` cached positions)
/// over the cache, into `out` (`tokens × heads·head_width`). Heads run in parallel when
/// there is enough work.
fn attend(shape: &Shape, cache: &Cache, start: usize, qkv: &[f32], out: &mut [f32], scores: &mut Vec<Vec<f32>>) {
    use rayon::prelude::*;
    let head_width = shape.head_width;
    let q_width = shape.heads * head_width;
    let kv_width = shape.kv_heads * head_width;
    let qkv_width = q_width + 2 * kv_width;
    let group = shape.heads / shape.kv_heads;
    let tokens = qkv.len() / qkv_width;
    let scale = 1.0 / (head_width as f32).sqrt();
    let tasks = tokens * shape.heads;
    scores.resize_with(tasks, Vec::new);

    let one = |task: usize, out: &mut [f32], scores: &mut Vec<f32>| {
        let (token, head) = (task / shape.heads, task % shape.heads);
        let query = &qkv[token * qkv_width + head * head_width..][..head_width];
        let kv_head = head / group;
        let visible = start + token + 1;
        scores.clear();
        let mut max = f32::NEG_INFINITY;
        for position in 0..visible {
            let key = &cache.keys[position * kv_width + kv_head * head_width..][..head_width];
            let score = dot(query, key) * scale;
            max = max.max(score);
            scores.push(score);
        }
        let mut total = 0.0;
        for score in scores.iter_mut() {
            *score = (*score - max).exp();
            total += *score;
        }
        out.fill(0.0);
        for (position, weight) in scores.iter().enumerate() {
            let value = &cache.values[position * kv_width + kv_head * head_width..][..head_width];
            let weight = weight / total;
            out.iter_mut().zip(value).for_each(|(out, value)| *out += weight * value);
        }
    };
    let work = tasks * (start + tokens) * head_width;
    if work < 1 << 16 {
        for (task, (out, scores)) in out.chunks_exact_mut(head_width).zip(scores.iter_mut()).enumerate() {
            one(task, out, scores);
        }
    } else {
        out.par_chunks_mut(head_width)
            .zip(scores.par_iter_mut())
            .enumerate()
            .for_each(|(task, (out, scores))| one(task, out, scores));
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use candle_core::Tensor;
    use candle_transformers::models::{quantized_llama, quantized_qwen2, quantized_qwen3};

    use super::*;
    use crate::tiny::TinyModel;

    /// Logits after a five-token prompt and after each of three more tokens.
    const PROMPT: [u32; 5] = [1, 40, 72, 101, 260];
    const NEXT: [u32; 3] = [33, 2, 120];

    fn ours(weights: &Weights) -> Vec<Vec<f32>> {
        let mut sequence = weights.sequence();
        let mut all = vec![sequence.forward(weights, &PROMPT).expect("prompt").to_vec()];
        for token in NEXT {
            all.push(sequence.forward(weights, &[token]).expect("token").to_vec());
        }
        assert_eq!(sequence.len(), PROMPT.len() + NEXT.len());
        all
    }

    /// candle-transformers' implementation of each architecture.
    enum Reference {
        Llama(quantized_llama::ModelWeights),
        Qwen2(quantized_qwen2::ModelWeights),
        Qwen3(quantized_qwen3::ModelWeights),
    }

    impl Reference {
        fn step(&mut self, tokens: &[u32], position: usize) -> Vec<f32> {
            let input = Tensor::new(tokens, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let logits = match self {
                Reference::Llama(model) => model.forward(&input, position),
                Reference::Qwen2(model) => model.forward(&input, position),
                Reference::Qwen3(model) => model.forward(&input, position),
            };
            logits.unwrap().flatten_all().unwrap().to_vec1().unwrap()
        }
    }

    /// The same logits through candle-transformers.
    fn candle(architecture: &str, path: &std::path::Path) -> Vec<Vec<f32>> {
        let mut file = File::open(path).unwrap();
        let content = Content::read(&mut file).unwrap();
        let device = Device::Cpu;
        let mut model = match architecture {
            "qwen2" => Reference::Qwen2(quantized_qwen2::ModelWeights::from_gguf(content, &mut file, &device).unwrap()),
            "qwen3" => Reference::Qwen3(quantized_qwen3::ModelWeights::from_gguf(content, &mut file, &device).unwrap()),
            _ => Reference::Llama(quantized_llama::ModelWeights::from_gguf(content, &mut file, &device).unwrap()),
        };
        let mut all = vec![model.step(&PROMPT, 0)];
        for (index, token) in NEXT.iter().enumerate() {
            all.push(model.step(&[*token], PROMPT.len() + index));
        }
        all
    }

    #[test]
    fn logits_match_candles_implementation_of_each_architecture() {
        let dir = tempfile::tempdir().unwrap();
        for architecture in ["llama", "qwen2", "qwen3"] {
            let path = dir.path().join(format!("{architecture}.gguf"));
            TinyModel { architecture, ..TinyModel::default() }.write(&path).unwrap();
            let mut file = File::open(&path).unwrap();
            let content = Content::read(&mut file).unwrap();
            let weights = Weights::load(architecture, &content, &mut file, 256, 2).expect("loads");
            let expected = candle(architecture, &path);
            let got = ours(&weights);
            for (step, (got, expected)) in got.iter().zip(&expected).enumerate() {
                assert_eq!(got.len(), expected.len());
                let range = expected.iter().fold(0f32, |max, value| max.max(value.abs()));
                let worst = got.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                // Both quantise activations to 8 bits, in slightly different ways (up to 3.5%
                // of the range here); a wrong rotary pairing alone differs by 75%.
                assert!(
                    worst <= 0.06 * range,
                    "{architecture}, step {step}: differs by {worst} (logits up to {range})"
                );
                let top = |values: &[f32]| {
                    values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(index, _)| index)
                };
                assert_eq!(top(got), top(expected), "{architecture}, step {step}: the same most likely token");
            }
        }
    }

    #[test]
    fn a_sequence_refuses_what_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        TinyModel { context_length: 8, ..TinyModel::default() }.write(&path).unwrap();
        let mut file = File::open(&path).unwrap();
        let content = Content::read(&mut file).unwrap();
        let weights = Weights::load("llama", &content, &mut file, 4096, 1).unwrap();
        assert_eq!(weights.shape.context, 8);
        let mut sequence = weights.sequence();
        assert!(sequence.forward(&weights, &[]).is_err());
        let error = sequence.forward(&weights, &[70_000]).unwrap_err();
        assert!(error.contains("outside the vocabulary"), "{error}");
        sequence.forward(&weights, &[1, 2, 3, 4, 5, 6]).unwrap();
        let error = sequence.forward(&weights, &[1, 2, 3]).unwrap_err();
        assert!(error.contains("do not fit the context of 8"), "{error}");
        sequence.forward(&weights, &[1, 2]).unwrap();
        assert_eq!(sequence.len(), 8);
    }

    #[test]
    fn a_token_gives_the_same_logits_alone_in_a_batch_or_after_a_copied_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        TinyModel::default().write(&path).unwrap();
        let mut file = File::open(&path).unwrap();
        let content = Content::read(&mut file).unwrap();
        let weights = Weights::load("llama", &content, &mut file, 256, 2).unwrap();
        let tokens: Vec<u32> = (0..23).map(|i| 3 + i * 7).collect();

        let mut batch = weights.sequence();
        assert_eq!(batch.cache_bytes(), 0);
        let expected = batch.forward(&weights, &tokens).unwrap().to_vec();
        let mut one_by_one = weights.sequence();
        for token in &tokens[..tokens.len() - 1] {
            one_by_one.forward(&weights, &[*token]).unwrap();
        }
        assert_eq!(one_by_one.forward(&weights, &tokens[22..]).unwrap(), &expected[..], "token by token");

        let mut copied = batch.prefix(10);
        assert_eq!(copied.len(), 10);
        assert_eq!(copied.forward(&weights, &tokens[10..]).unwrap(), &expected[..], "after a copied prefix");
        assert!(batch.cache_bytes() >= 23 * 2 * 32 * 4 * 2, "two layers of 32-wide keys and values");
    }
}
