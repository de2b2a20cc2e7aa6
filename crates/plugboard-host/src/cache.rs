//! The compiled-component cache: components compiled by cranelift are kept on disk, keyed
//! by the SHA-256 of the `.wasm` and the engine's compatibility hash (wasmtime version and
//! every setting that changes code generation), so a restart skips compilation; files no
//! plugin uses any more are pruned ([`prune`]).
//!
//! A cache file (`<content>-<engine>.cwasm`) is exactly what `Component::serialize` wrote,
//! and is loaded by mapping it (`Component::deserialize_file`), not by reading it into
//! memory: the compiled code of a plugin loaded twice, or by two servers on one cache
//! folder, is the same file's pages, shared. Its SHA-256 is kept beside it
//! (`<file>.sha256`, hex) and checked before the file is mapped.

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

/// Whether `cache_dir` holds `wasm` compiled by `engine`, with its checksum: loading it
/// then maps the file instead of compiling. The checksum itself is checked at load.
pub(crate) fn is_cached(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> bool {
    let path = cache_path(engine, wasm, cache_dir);
    path.is_file() && checksum_path(&path).is_file()
}

/// Removes from `cache_dir` the compiled files (and their checksums) of every component
/// but those of `keep` for this engine (files of components no longer used, or compiled by
/// another Plugboard version); files not named as this cache names them are left. Returns
/// how many compiled files went.
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
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else { continue };
        let (compiled, is_checksum) = match name.strip_suffix(CHECKSUM_SUFFIX) {
            Some(compiled) => (path.with_file_name(compiled), true),
            None => (path.clone(), false),
        };
        let is_ours = compiled.file_name().and_then(|name| name.to_str()).is_some_and(is_cache_file_name);
        if is_ours && !kept.contains(&compiled) {
            match std::fs::remove_file(&path) {
                Ok(()) => removed += usize::from(!is_checksum),
                // Another process pruned it first.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(removed)
}

/// What the checksum file of a cache file adds to its name.
const CHECKSUM_SUFFIX: &str = ".sha256";

/// Whether `name` is a cache file's: 64 hex digits, `-`, 16 hex digits, `.cwasm`.
fn is_cache_file_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".cwasm") else { return false };
    let Some((content, engine)) = stem.split_once('-') else { return false };
    let hex = |text: &str, length: usize| text.len() == length && text.bytes().all(|byte| byte.is_ascii_hexdigit());
    hex(content, 64) && hex(engine, 16)
}

/// The checksum file of the cache file at `path`.
fn checksum_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(CHECKSUM_SUFFIX);
    PathBuf::from(name)
}

/// The SHA-256 of the file at `path`, read in pieces.
fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn cache_path(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> PathBuf {
    let mut engine_hash = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let content = hex::encode(Sha256::digest(wasm));
    cache_dir.join(format!("{content}-{:016x}.cwasm", engine_hash.finish()))
}

/// The cached component at `path`, mapped, once its checksum matches.
fn read_cached(engine: &Engine, path: &Path) -> Option<Component> {
    let expected = std::fs::read_to_string(checksum_path(path)).ok()?;
    match file_digest(path) {
        Ok(digest) if digest == expected.trim() => {}
        Ok(_) => {
            tracing::warn!(path = %path.display(), "ignoring a corrupted compiled-component cache file");
            return None;
        }
        Err(_) => return None,
    }
    deserialize_file(engine, path)
}

#[allow(unsafe_code)]
fn deserialize_file(engine: &Engine, path: &Path) -> Option<Component> {
    // SAFETY: `Component::deserialize_file` maps and runs native code produced for this
    // engine. The file is in this host's own cache folder, written by `write_cached` from
    // `Component::serialize`, and its SHA-256 was just checked against the one written
    // with it, so it is what wasmtime produced; wasmtime itself rejects output of another
    // version or configuration. Cache files are never changed in place (a new one is
    // renamed over the name, pruning unlinks), so a mapping stays valid while it lives.
    // Between the check and the mapping another process may rename a new file in: it is
    // the same component compiled by the same engine (the name says so), written whole.
    match unsafe { Component::deserialize_file(engine, path) } {
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
    // Write then rename, so a concurrent reader never sees half a file; the checksum last,
    // so a reader between the two renames finds them disagreeing and compiles (harmless).
    let suffix = format!("tmp{}", std::process::id());
    let temporary = path.with_extension(&suffix);
    std::fs::write(&temporary, &serialized)?;
    let checksum = checksum_path(path);
    let temporary_checksum = checksum.with_extension(&suffix);
    std::fs::write(&temporary_checksum, hex::encode(Sha256::digest(&serialized)))?;
    std::fs::rename(&temporary, path)?;
    std::fs::rename(&temporary_checksum, &checksum)
}
