//! The compiled-component cache: components compiled by cranelift are kept on disk, keyed
//! by the SHA-256 of the `.wasm` and the engine's compatibility hash (wasmtime version and
//! every setting that changes code generation), so a restart skips compilation; files no
//! plugin uses any more are pruned ([`prune`]).

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiles `wasm`, or loads it from `cache_dir` when compiled before.
///
/// A cache file that is unreadable, truncated, corrupted or from another engine is
/// ignored and replaced; failures to write the cache are logged and otherwise ignored.
pub(crate) fn load_component(engine: &Engine, wasm: &[u8], cache_dir: Option<&Path>) -> wasmtime::Result<Component> {
    let Some(cache_dir) = cache_dir else {
        return Component::new(engine, wasm);
    };
    let path = cache_path(engine, wasm, cache_dir);
    if let Some(component) = read_cached(engine, &path) {
        tracing::debug!(path = %path.display(), "loaded compiled component from cache");
        return Ok(component);
    }
    let component = Component::new(engine, wasm)?;
    if let Err(error) = write_cached(&component, &path) {
        tracing::warn!(path = %path.display(), %error, "could not write the compiled-component cache");
    }
    Ok(component)
}

/// Removes from `cache_dir` the compiled files of every component but those of `keep` for
/// this engine (files of components no longer used, or compiled by another Plugboard
/// version); files not named as this cache names them are left. Returns how many went.
pub(crate) fn prune(engine: &Engine, cache_dir: &Path, keep: &[Arc<[u8]>]) -> std::io::Result<usize> {
    let kept: BTreeSet<PathBuf> = keep.iter().map(|wasm| cache_path(engine, wasm, cache_dir)).collect();
    let entries = match std::fs::read_dir(cache_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        let is_ours = path.file_name().and_then(|name| name.to_str()).is_some_and(is_cache_file_name);
        if is_ours && !kept.contains(&path) {
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                // Another process pruned it first.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(removed)
}

/// Whether `name` is a cache file's: 64 hex digits, `-`, 16 hex digits, `.cwasm`.
fn is_cache_file_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".cwasm") else { return false };
    let Some((content, engine)) = stem.split_once('-') else { return false };
    let hex = |text: &str, length: usize| text.len() == length && text.bytes().all(|byte| byte.is_ascii_hexdigit());
    hex(content, 64) && hex(engine, 16)
}

fn cache_path(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> PathBuf {
    let mut engine_hash = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let content = hex::encode(Sha256::digest(wasm));
    cache_dir.join(format!("{content}-{:016x}.cwasm", engine_hash.finish()))
}

/// Cache file layout: 32 bytes of SHA-256 over the rest, then the serialized component.
fn read_cached(engine: &Engine, path: &Path) -> Option<Component> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < 32 || Sha256::digest(&bytes[32..]).as_slice() != &bytes[..32] {
        tracing::warn!(path = %path.display(), "ignoring a corrupted compiled-component cache file");
        return None;
    }
    deserialize(engine, &bytes[32..])
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, serialized: &[u8]) -> Option<Component> {
    // SAFETY: `Component::deserialize` runs native code produced for this engine. The
    // bytes come from this host's own cache directory, were written by `write_cached`
    // from `Component::serialize`, and their SHA-256 was just verified, so they are
    // exactly what wasmtime produced. wasmtime itself rejects output of another version
    // or configuration.
    match unsafe { Component::deserialize(engine, serialized) } {
        Ok(component) => Some(component),
        Err(error) => {
            tracing::warn!(%error, "ignoring an incompatible compiled-component cache file");
            None
        }
    }
}

fn write_cached(component: &Component, path: &Path) -> std::io::Result<()> {
    let serialized = component.serialize().map_err(std::io::Error::other)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut bytes = Sha256::digest(&serialized).to_vec();
    bytes.extend_from_slice(&serialized);
    // Write then rename, so a concurrent reader never sees half a file.
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, &bytes)?;
    std::fs::rename(&temporary, path)
}
