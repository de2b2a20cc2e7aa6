//! Quantised weight matrices and their matrix-vector products.
//!
//! Weights stay in the 4- or 8-bit blocks of 32 they are stored in (GGML's Q4_0, Q4_1
//! and Q8_0), unpacked at load into separate arrays of scales and quants so the inner
//! loop reads them in order with no half-float conversion. Activations are quantised to
//! 8 bits per block of 32 before each product, so a block's dot product is an integer
//! one: with AVX2, 32 multiply-adds in a few instructions (chosen at run time; a portable
//! loop otherwise). Other tensor types (16/32-bit floats, k-quants, Q5) are re-encoded as
//! Q8_0 at load.
//!
//! A Q4 block holds `d·q + m` for 4-bit `q` (Q4_0's `d·(q − 8)` is the same with
//! `m = −8d`); a Q8 block `d·q` for 8-bit `q`. Against activations `dₐ·qₐ`, a block's dot
//! product is `d·dₐ·Σ q·qₐ + m·dₐ·Σ qₐ`, the second sum computed once per activation block.

use std::sync::OnceLock;

use half::f16;
use rayon::prelude::*;

/// Values per quantisation block.
pub(crate) const BLOCK: usize = 32;

/// Multiply-adds below which a product is not worth splitting between threads.
const PARALLEL_WORK: usize = 1 << 15;

/// Activations quantised for the integer dot products: per block, a scale `d`, 32 signed
/// bytes, and `d·Σq` (for the Q4 blocks' offsets).
#[derive(Debug, Default, Clone)]
pub(crate) struct Activations {
    q: Vec<i8>,
    d: Vec<f32>,
    s: Vec<f32>,
}

impl Activations {
    /// Quantises `x` (a multiple of 32 values) into `self`, reusing its buffers.
    pub(crate) fn quantize(&mut self, x: &[f32]) {
        debug_assert_eq!(x.len() % BLOCK, 0);
        let blocks = x.len() / BLOCK;
        self.q.resize(x.len(), 0);
        self.d.resize(blocks, 0.0);
        self.s.resize(blocks, 0.0);
        for (((block, q), d), s) in
            x.chunks_exact(BLOCK).zip(self.q.chunks_exact_mut(BLOCK)).zip(self.d.iter_mut()).zip(self.s.iter_mut())
        {
            let max = block.iter().fold(0f32, |max, value| max.max(value.abs()));
            let scale = max / 127.0;
            let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            let mut sum = 0i32;
            for (q, value) in q.iter_mut().zip(block) {
                let quant = (value * inverse).round() as i8;
                *q = quant;
                sum += i32::from(quant);
            }
            *d = scale;
            *s = scale * sum as f32;
        }
    }

    fn len(&self) -> usize {
        self.q.len()
    }

    /// The values the quantised activations stand for.
    #[cfg(test)]
    fn dequantized(&self) -> Vec<f32> {
        self.q.iter().enumerate().map(|(i, &q)| self.d[i / BLOCK] * f32::from(q)).collect()
    }
}

/// Rows of one storage format.
#[derive(Debug, Clone)]
enum Rows {
    /// 4-bit quants, two per byte (a block's first 16 values in the low nibbles, the
    /// next 16 in the high ones), with a scale and an offset per block.
    Q4 { d: Vec<f32>, m: Vec<f32>, q: Vec<u8> },
    /// 8-bit quants with a scale per block.
    Q8 { d: Vec<f32>, q: Vec<i8> },
}

/// A weight matrix, `rows × columns`, possibly made of parts of different formats stacked
/// (the query, key and value projections run as one product).
#[derive(Debug, Clone)]
pub(crate) struct Matrix {
    columns: usize,
    rows: usize,
    /// Each part with the index of its first row.
    parts: Vec<(usize, Rows)>,
}

/// A tensor as read from the file: its GGML type, shape and raw bytes.
pub(crate) struct RawTensor<'a> {
    pub(crate) dtype: candle_core::quantized::GgmlDType,
    pub(crate) rows: usize,
    pub(crate) columns: usize,
    pub(crate) bytes: &'a [u8],
}

impl Matrix {
    /// A matrix in its stored format when it has a kernel (Q4_0, Q4_1, Q8_0), or `None`.
    pub(crate) fn from_raw(tensor: &RawTensor<'_>) -> Option<Matrix> {
        use candle_core::quantized::GgmlDType;
        if !tensor.columns.is_multiple_of(BLOCK) {
            return None;
        }
        let blocks = tensor.rows * tensor.columns / BLOCK;
        let half = |bytes: &[u8]| f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
        let rows = match tensor.dtype {
            GgmlDType::Q4_0 | GgmlDType::Q4_1 => {
                let (size, offset) = if tensor.dtype == GgmlDType::Q4_0 { (18, 2) } else { (20, 4) };
                if tensor.bytes.len() != blocks * size {
                    return None;
                }
                let mut d = Vec::with_capacity(blocks);
                let mut m = Vec::with_capacity(blocks);
                let mut q = Vec::with_capacity(blocks * BLOCK / 2);
                for block in tensor.bytes.chunks_exact(size) {
                    let scale = half(block);
                    d.push(scale);
                    m.push(if tensor.dtype == GgmlDType::Q4_0 { -8.0 * scale } else { half(&block[2..]) });
                    q.extend_from_slice(&block[offset..]);
                }
                Rows::Q4 { d, m, q }
            }
            GgmlDType::Q8_0 => {
                if tensor.bytes.len() != blocks * 34 {
                    return None;
                }
                let mut d = Vec::with_capacity(blocks);
                let mut q = Vec::with_capacity(blocks * BLOCK);
                for block in tensor.bytes.chunks_exact(34) {
                    d.push(half(block));
                    q.extend(block[2..].iter().map(|&byte| byte as i8));
                }
                Rows::Q8 { d, q }
            }
            _ => return None,
        };
        Some(Matrix { columns: tensor.columns, rows: tensor.rows, parts: vec![(0, rows)] })
    }

    /// `values` (`rows × columns`, row-major) encoded as Q8_0.
    pub(crate) fn q8_from_f32(values: &[f32], rows: usize, columns: usize) -> Matrix {
        assert_eq!(values.len(), rows * columns);
        assert_eq!(columns % BLOCK, 0);
        let mut activations = Activations::default();
        activations.quantize(values);
        Matrix { columns, rows, parts: vec![(0, Rows::Q8 { d: activations.d, q: activations.q })] }
    }

    /// The matrices stacked: rows of the first, then of the second, and so on.
    pub(crate) fn stack(matrices: Vec<Matrix>) -> Matrix {
        let columns = matrices[0].columns;
        let mut parts = Vec::new();
        let mut rows = 0;
        for matrix in matrices {
            assert_eq!(matrix.columns, columns, "stacked matrices have the same width");
            for (first, part) in matrix.parts {
                parts.push((rows + first, part));
            }
            rows += matrix.rows;
        }
        Matrix { columns, rows, parts }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Row `row` as floats (an embedding lookup).
    pub(crate) fn row_into(&self, row: usize, out: &mut [f32]) {
        let blocks = self.columns / BLOCK;
        let (first, part) = self.part(row);
        let start = (row - first) * blocks;
        for (block, out) in out.chunks_exact_mut(BLOCK).enumerate() {
            let index = start + block;
            match part {
                Rows::Q4 { d, m, q } => {
                    let bytes = &q[index * BLOCK / 2..(index + 1) * BLOCK / 2];
                    for (i, byte) in bytes.iter().enumerate() {
                        out[i] = d[index] * f32::from(byte & 0x0f) + m[index];
                        out[i + BLOCK / 2] = d[index] * f32::from(byte >> 4) + m[index];
                    }
                }
                Rows::Q8 { d, q } => {
                    for (out, &quant) in out.iter_mut().zip(&q[index * BLOCK..(index + 1) * BLOCK]) {
                        *out = d[index] * f32::from(quant);
                    }
                }
            }
        }
    }

    fn part(&self, row: usize) -> (usize, &Rows) {
        let index = self.parts.partition_point(|(first, _)| *first <= row) - 1;
        let (first, rows) = &self.parts[index];
        (*first, rows)
    }

    /// Row `row`'s dot product with each of `xs`, into `out[t * stride]`.
    fn row_dots(&self, row: usize, xs: &[Activations], out: &mut [f32], stride: usize) {
        let blocks = self.columns / BLOCK;
        let simd = simd();
        let (first, part) = self.part(row);
        let block = (row - first) * blocks;
        match part {
            Rows::Q4 { d, m, q } => {
                let (d, m) = (&d[block..block + blocks], &m[block..block + blocks]);
                let q = &q[block * BLOCK / 2..(block + blocks) * BLOCK / 2];
                let mut t = 0;
                // Four vectors at a time share each block's unpacking.
                while t + 4 <= xs.len() {
                    let dots = dot_q4_four(simd, d, m, q, [&xs[t], &xs[t + 1], &xs[t + 2], &xs[t + 3]]);
                    for (i, dot) in dots.into_iter().enumerate() {
                        out[(t + i) * stride] = dot;
                    }
                    t += 4;
                }
                for (t, x) in xs.iter().enumerate().skip(t) {
                    out[t * stride] = dot_q4(simd, d, m, q, x);
                }
            }
            Rows::Q8 { d, q } => {
                let d = &d[block..block + blocks];
                let q = &q[block * BLOCK..(block + blocks) * BLOCK];
                let mut t = 0;
                while t + 4 <= xs.len() {
                    let dots = dot_q8_four(simd, d, q, [&xs[t], &xs[t + 1], &xs[t + 2], &xs[t + 3]]);
                    for (i, dot) in dots.into_iter().enumerate() {
                        out[(t + i) * stride] = dot;
                    }
                    t += 4;
                }
                for (t, x) in xs.iter().enumerate().skip(t) {
                    out[t * stride] = dot_q8(simd, d, q, x);
                }
            }
        }
    }

    /// `out[r] = row r · x` for `rows` starting at `first`.
    fn rows_into(&self, first: usize, x: &Activations, out: &mut [f32]) {
        for (r, out) in out.iter_mut().enumerate() {
            self.row_dots(first + r, std::slice::from_ref(x), std::slice::from_mut(out), 1);
        }
    }

    /// `out = self · x` for one quantised vector, split between the current rayon pool's
    /// threads when it is big enough.
    pub(crate) fn matvec(&self, x: &Activations, out: &mut [f32]) {
        debug_assert_eq!(x.len(), self.columns);
        debug_assert_eq!(out.len(), self.rows);
        let chunk = self.chunk_rows(1);
        if chunk >= self.rows {
            self.rows_into(0, x, out);
        } else {
            out.par_chunks_mut(chunk).enumerate().for_each(|(index, out)| self.rows_into(index * chunk, x, out));
        }
    }

    /// `out[t] = self · xs[t]` for several vectors (`out` is `xs.len() × rows`): each row
    /// is read once for all of them.
    pub(crate) fn matmul(&self, xs: &[Activations], out: &mut [f32], scratch: &mut Vec<f32>) {
        let tokens = xs.len();
        debug_assert_eq!(out.len(), tokens * self.rows);
        if tokens == 1 {
            return self.matvec(&xs[0], out);
        }
        // Row-major by weight row, then transposed: threads write disjoint row ranges.
        scratch.resize(self.rows * tokens, 0.0);
        let chunk = self.chunk_rows(tokens);
        let tile = |index: usize, tile: &mut [f32]| {
            for (r, out) in tile.chunks_exact_mut(tokens).enumerate() {
                self.row_dots(index * chunk + r, xs, out, 1);
            }
        };
        if chunk >= self.rows {
            tile(0, scratch);
        } else {
            scratch.par_chunks_mut(chunk * tokens).enumerate().for_each(|(index, slice)| tile(index, slice));
        }
        for (r, values) in scratch.chunks_exact(tokens).enumerate() {
            for (t, value) in values.iter().enumerate() {
                out[t * self.rows + r] = *value;
            }
        }
    }

    /// Rows per parallel task: about four tasks per thread, none tiny.
    fn chunk_rows(&self, tokens: usize) -> usize {
        let work = self.rows * self.columns * tokens;
        let threads = rayon::current_num_threads().max(1);
        if work < PARALLEL_WORK || threads == 1 {
            return self.rows;
        }
        self.rows.div_ceil(threads * 4).max(8)
    }
}

/// Whether the AVX2 and FMA kernels can run here (checked once).
fn simd() -> bool {
    static SIMD: OnceLock<bool> = OnceLock::new();
    *SIMD.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// The kernels this machine runs: `avx2+fma` or `portable`.
pub(crate) fn kernels() -> &'static str {
    if simd() { "avx2+fma" } else { "portable" }
}

#[allow(unsafe_code)]
fn dot_q4(simd: bool, d: &[f32], m: &[f32], q: &[u8], x: &Activations) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is true only when the CPU has AVX2 and FMA; the slices' lengths
        // match (`blocks` scales and offsets, 16 bytes of quants per block, and at least
        // as many activation blocks).
        return unsafe { avx2::dot_q4(d, m, q, x) };
    }
    let _ = simd;
    let mut sum = 0f32;
    for (block, (&scale, &offset)) in d.iter().zip(m).enumerate() {
        let bytes = &q[block * 16..block * 16 + 16];
        let acts = &x.q[block * BLOCK..block * BLOCK + BLOCK];
        let mut dot = 0i32;
        for (i, byte) in bytes.iter().enumerate() {
            dot += i32::from(byte & 0x0f) * i32::from(acts[i]) + i32::from(byte >> 4) * i32::from(acts[i + 16]);
        }
        sum += scale * x.d[block] * dot as f32 + offset * x.s[block];
    }
    sum
}

#[allow(unsafe_code)]
fn dot_q8(simd: bool, d: &[f32], q: &[i8], x: &Activations) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: as in `dot_q4`; 32 quants per block.
        return unsafe { avx2::dot_q8(d, q, x) };
    }
    let _ = simd;
    let mut sum = 0f32;
    for (block, &scale) in d.iter().enumerate() {
        let weights = &q[block * BLOCK..block * BLOCK + BLOCK];
        let acts = &x.q[block * BLOCK..block * BLOCK + BLOCK];
        let dot: i32 = weights.iter().zip(acts).map(|(&w, &a)| i32::from(w) * i32::from(a)).sum();
        sum += scale * x.d[block] * dot as f32;
    }
    sum
}

/// [`dot_q4`] of one row with four vectors.
#[allow(unsafe_code)]
fn dot_q4_four(simd: bool, d: &[f32], m: &[f32], q: &[u8], xs: [&Activations; 4]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: as in `dot_q4`, for each of the four vectors.
        return unsafe { avx2::dot_q4_four(d, m, q, xs) };
    }
    xs.map(|x| dot_q4(simd, d, m, q, x))
}

/// [`dot_q8`] of one row with four vectors.
#[allow(unsafe_code)]
fn dot_q8_four(simd: bool, d: &[f32], q: &[i8], xs: [&Activations; 4]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: as in `dot_q8`, for each of the four vectors.
        return unsafe { avx2::dot_q8_four(d, q, xs) };
    }
    xs.map(|x| dot_q8(simd, d, q, x))
}

/// The AVX2 kernels: `unsafe` for the intrinsics' raw loads, the one place this crate
/// allows it.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Activations, BLOCK};

    #[target_feature(enable = "avx2,fma")]
    fn sum(v: __m256) -> f32 {
        let half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
        _mm_cvtss_f32(_mm_add_ss(quarter, _mm_movehdup_ps(quarter)))
    }

    /// Sum of products of 32 unsigned weights (0..=15) and 32 signed activations, as
    /// eight 32-bit lanes.
    #[target_feature(enable = "avx2,fma")]
    fn products_u8(weights: __m256i, acts: __m256i) -> __m256 {
        let pairs = _mm256_maddubs_epi16(weights, acts);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }

    /// One Q4 block's integer products with its activations, scaled.
    ///
    /// # Safety
    /// `bytes` points at 16 readable bytes and `acts` at 32.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn q4_block(bytes: *const u8, acts: *const i8, scale: f32, total: __m256) -> __m256 {
        // SAFETY: by the function's contract.
        let (packed, a) = unsafe { (_mm_loadu_si128(bytes.cast()), _mm256_loadu_si256(acts.cast())) };
        let low = _mm_set1_epi8(0x0f);
        let weights = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16::<4>(packed), low), _mm_and_si128(packed, low));
        _mm256_fmadd_ps(products_u8(weights, a), _mm256_set1_ps(scale), total)
    }

    /// One Q8 block's integer products with its activations, scaled.
    ///
    /// # Safety
    /// `weights` and `acts` point at 32 readable bytes each.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn q8_block(weights: *const i8, acts: *const i8, scale: f32, total: __m256) -> __m256 {
        // SAFETY: by the function's contract.
        let (w, a) = unsafe { (_mm256_loadu_si256(weights.cast()), _mm256_loadu_si256(acts.cast())) };
        // maddubs multiplies unsigned by signed bytes: move the weights' signs onto the
        // activations. Quants are within ±127, so |w| fits.
        let products = products_u8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
        _mm256_fmadd_ps(products, _mm256_set1_ps(scale), total)
    }

    /// # Safety
    /// `q` holds 16 bytes per block of `d`; `m` as many offsets; `x` at least as many blocks.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q4(d: &[f32], m: &[f32], q: &[u8], x: &Activations) -> f32 {
        let blocks = d.len();
        debug_assert!(m.len() == blocks && q.len() == blocks * 16 && x.d.len() >= blocks);
        let (bytes, acts) = (q.as_ptr(), x.q.as_ptr());
        // Two accumulators, so consecutive blocks do not wait on each other's addition.
        let (mut even, mut odd) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut block = 0;
        // SAFETY (every block call below): `block < blocks`, so its 16 quant bytes and 32
        // activations are in bounds by the function's contract.
        while block + 1 < blocks {
            even = unsafe { q4_block(bytes.add(block * 16), acts.add(block * BLOCK), d[block] * x.d[block], even) };
            let next = block + 1;
            odd = unsafe { q4_block(bytes.add(next * 16), acts.add(next * BLOCK), d[next] * x.d[next], odd) };
            block += 2;
        }
        if block < blocks {
            even = unsafe { q4_block(bytes.add(block * 16), acts.add(block * BLOCK), d[block] * x.d[block], even) };
        }
        let offsets: f32 = m.iter().zip(&x.s[..blocks]).map(|(m, s)| m * s).sum();
        sum(_mm256_add_ps(even, odd)) + offsets
    }

    /// [`dot_q4`] with four vectors: each block's weights unpacked once. Every vector's
    /// additions happen in the same order as in [`dot_q4`] (even and odd blocks apart), so
    /// a token gives the same result alone or in a batch.
    ///
    /// # Safety
    /// As [`dot_q4`], for every vector of `xs`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q4_four(d: &[f32], m: &[f32], q: &[u8], xs: [&Activations; 4]) -> [f32; 4] {
        let blocks = d.len();
        debug_assert!(m.len() == blocks && q.len() == blocks * 16 && xs.iter().all(|x| x.d.len() >= blocks));
        let low = _mm_set1_epi8(0x0f);
        // [even blocks, odd blocks] for each vector.
        let mut totals = [[_mm256_setzero_ps(); 2]; 4];
        for (block, &scale) in d.iter().enumerate() {
            // SAFETY: `block < blocks`: its 16 quant bytes are in bounds by the contract.
            let packed = unsafe { _mm_loadu_si128(q.as_ptr().add(block * 16).cast()) };
            let weights = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16::<4>(packed), low), _mm_and_si128(packed, low));
            for (total, x) in totals.iter_mut().zip(xs) {
                // SAFETY: and so are each vector's 32 activations of the block.
                let a = unsafe { _mm256_loadu_si256(x.q.as_ptr().add(block * BLOCK).cast()) };
                let total = &mut total[block % 2];
                *total = _mm256_fmadd_ps(products_u8(weights, a), _mm256_set1_ps(scale * x.d[block]), *total);
            }
        }
        let mut dots = [0f32; 4];
        for ((dot, [even, odd]), x) in dots.iter_mut().zip(totals).zip(xs) {
            *dot = sum(_mm256_add_ps(even, odd)) + m.iter().zip(&x.s[..blocks]).map(|(m, s)| m * s).sum::<f32>();
        }
        dots
    }

    /// [`dot_q8`] with four vectors: each block's weights loaded once, every vector's
    /// additions in the same order as in [`dot_q8`].
    ///
    /// # Safety
    /// As [`dot_q8`], for every vector of `xs`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q8_four(d: &[f32], q: &[i8], xs: [&Activations; 4]) -> [f32; 4] {
        let blocks = d.len();
        debug_assert!(q.len() == blocks * BLOCK && xs.iter().all(|x| x.d.len() >= blocks));
        let mut totals = [[_mm256_setzero_ps(); 2]; 4];
        for (block, &scale) in d.iter().enumerate() {
            // SAFETY: `block < blocks`: its 32 quants are in bounds by the contract.
            let w = unsafe { _mm256_loadu_si256(q.as_ptr().add(block * BLOCK).cast()) };
            let magnitudes = _mm256_sign_epi8(w, w);
            for (total, x) in totals.iter_mut().zip(xs) {
                // SAFETY: and so are each vector's 32 activations of the block.
                let a = unsafe { _mm256_loadu_si256(x.q.as_ptr().add(block * BLOCK).cast()) };
                let products = products_u8(magnitudes, _mm256_sign_epi8(a, w));
                let total = &mut total[block % 2];
                *total = _mm256_fmadd_ps(products, _mm256_set1_ps(scale * x.d[block]), *total);
            }
        }
        let mut dots = [0f32; 4];
        for (dot, [even, odd]) in dots.iter_mut().zip(totals) {
            *dot = sum(_mm256_add_ps(even, odd));
        }
        dots
    }

    /// # Safety
    /// `q` holds 32 quants per block of `d`; `x` at least as many blocks.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q8(d: &[f32], q: &[i8], x: &Activations) -> f32 {
        let blocks = d.len();
        debug_assert!(q.len() == blocks * BLOCK && x.d.len() >= blocks);
        let (weights, acts) = (q.as_ptr(), x.q.as_ptr());
        let (mut even, mut odd) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut block = 0;
        // SAFETY (every block call below): `block < blocks`, so its 32 quants and 32
        // activations are in bounds by the function's contract.
        while block + 1 < blocks {
            let next = block + 1;
            even =
                unsafe { q8_block(weights.add(block * BLOCK), acts.add(block * BLOCK), d[block] * x.d[block], even) };
            odd = unsafe { q8_block(weights.add(next * BLOCK), acts.add(next * BLOCK), d[next] * x.d[next], odd) };
            block += 2;
        }
        if block < blocks {
            even =
                unsafe { q8_block(weights.add(block * BLOCK), acts.add(block * BLOCK), d[block] * x.d[block], even) };
        }
        sum(_mm256_add_ps(even, odd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.max(1);
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn reference(weights: &[f32], columns: usize, x: &[f32]) -> Vec<f32> {
        weights.chunks_exact(columns).map(|row| row.iter().zip(x).map(|(w, x)| w * x).sum()).collect()
    }

    fn q4_raw(values: &[f32], offset: bool) -> Vec<u8> {
        // GGML's own block layouts, written the plain way.
        let mut bytes = Vec::new();
        for block in values.chunks_exact(BLOCK) {
            let (min, max) = block.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let (d, m) = if offset { ((max - min) / 15.0, min) } else { (max.abs().max(min.abs()) / 8.0, 0.0) };
            let d16 = f16::from_f32(d);
            bytes.extend_from_slice(&d16.to_le_bytes());
            if offset {
                bytes.extend_from_slice(&f16::from_f32(m).to_le_bytes());
            }
            let d = d16.to_f32();
            let quant = |v: f32| -> u8 {
                let q = if offset { ((v - m) / d).round() } else { (v / d).round() + 8.0 };
                q.clamp(0.0, 15.0) as u8
            };
            for i in 0..16 {
                bytes.push(quant(block[i]) | (quant(block[i + 16]) << 4));
            }
        }
        bytes
    }

    fn check(matrix: &Matrix, weights: &[f32], columns: usize, tolerance: f32) {
        let rows = weights.len() / columns;
        // Six vectors: a group of four for the batched kernels, and two after it.
        let inputs: Vec<Vec<f32>> = (0..6).map(|seed| values(columns, 100 + seed)).collect();
        let mut acts: Vec<Activations> = Vec::new();
        for x in &inputs {
            let mut a = Activations::default();
            a.quantize(x);
            acts.push(a);
        }
        let mut one = vec![0f32; rows];
        matrix.matvec(&acts[0], &mut one);
        let mut many = vec![0f32; rows * inputs.len()];
        matrix.matmul(&acts, &mut many, &mut Vec::new());
        assert_eq!(&many[..rows], &one[..], "one vector gives the same result alone and in a batch");
        for (t, x) in acts.iter().enumerate() {
            // Against the dequantised operands only the order of the additions differs.
            let expected = reference(weights, columns, &x.dequantized());
            for (r, (got, want)) in many[t * rows..(t + 1) * rows].iter().zip(&expected).enumerate() {
                assert!((got - want).abs() <= tolerance, "row {r} of vector {t}: {got} against {want}");
            }
        }
        for (t, kernel) in [true, false].into_iter().enumerate() {
            // Both kernels agree (the portable one is what other CPUs run).
            let first = match &matrix.parts[0].1 {
                Rows::Q4 { d, m, q } => {
                    dot_q4(kernel, &d[..columns / BLOCK], &m[..columns / BLOCK], &q[..columns / 2], &acts[0])
                }
                Rows::Q8 { d, q } => dot_q8(kernel, &d[..columns / BLOCK], &q[..columns], &acts[0]),
            };
            assert!((first - one[0]).abs() < 1e-3, "kernel {t}: {first} against {}", one[0]);
            let group = [&acts[0], &acts[1], &acts[2], &acts[3]];
            let four = match &matrix.parts[0].1 {
                Rows::Q4 { d, m, q } => {
                    dot_q4_four(kernel, &d[..columns / BLOCK], &m[..columns / BLOCK], &q[..columns / 2], group)
                }
                Rows::Q8 { d, q } => dot_q8_four(kernel, &d[..columns / BLOCK], &q[..columns], group),
            };
            for (v, dot) in four.iter().enumerate() {
                let batched = many[v * rows];
                assert!((dot - batched).abs() < 1e-3, "kernel {t}, vector {v}: {dot} against {batched}");
            }
        }
    }

    #[test]
    fn q4_1_rows_match_a_float_product() {
        use candle_core::quantized::GgmlDType;
        let (rows, columns) = (300, 256);
        let weights = values(rows * columns, 7);
        let bytes = q4_raw(&weights, true);
        let matrix =
            Matrix::from_raw(&RawTensor { dtype: GgmlDType::Q4_1, rows, columns, bytes: &bytes }).expect("Q4_1 reads");
        let mut dequantized = vec![0f32; rows * columns];
        for (r, out) in dequantized.chunks_exact_mut(columns).enumerate() {
            matrix.row_into(r, out);
        }
        check(&matrix, &dequantized, columns, 1e-3);
    }

    #[test]
    fn q4_0_and_q8_0_rows_stack_and_match_a_float_product() {
        use candle_core::quantized::GgmlDType;
        // An odd number of blocks per row, for the kernels' last block.
        let columns = 96;
        let first = values(40 * columns, 3);
        let bytes = q4_raw(&first, false);
        let q4 = Matrix::from_raw(&RawTensor { dtype: GgmlDType::Q4_0, rows: 40, columns, bytes: &bytes }).unwrap();
        let second = values(25 * columns, 5);
        let q8 = Matrix::q8_from_f32(&second, 25, columns);
        let stacked = Matrix::stack(vec![q4, q8]);
        assert_eq!(stacked.rows(), 65);
        let mut dequantized = vec![0f32; 65 * columns];
        for (r, out) in dequantized.chunks_exact_mut(columns).enumerate() {
            stacked.row_into(r, out);
        }
        for (a, b) in dequantized[40 * columns..].iter().zip(&second) {
            assert!((a - b).abs() < 0.01, "Q8_0 keeps values within a step");
        }
        check(&stacked, &dequantized, columns, 1e-3);
    }

    #[test]
    fn wrong_sizes_are_not_read() {
        use candle_core::quantized::GgmlDType;
        let bytes = vec![0u8; 19];
        assert!(Matrix::from_raw(&RawTensor { dtype: GgmlDType::Q4_0, rows: 1, columns: 32, bytes: &bytes }).is_none());
        assert!(Matrix::from_raw(&RawTensor { dtype: GgmlDType::Q4_0, rows: 1, columns: 30, bytes: &bytes }).is_none());
    }
}
