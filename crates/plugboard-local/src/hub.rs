//! Models from the Hugging Face hub: downloaded once into a cache (hf-hub's layout, so
//! files already fetched by other tools under the same cache are reused), resumed after an
//! interruption, and checked against the hub's SHA-256 before use.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hf_hub::api::tokio::{ApiBuilder, Progress};
use hf_hub::{Cache, Repo};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The model used when none is configured: small enough to download in a minute and run
/// on any CPU, good enough to chat.
pub const DEFAULT_REPO: &str = "HuggingFaceTB/SmolLM2-360M-Instruct-GGUF";
/// The file of [`DEFAULT_REPO`].
pub const DEFAULT_FILE: &str = "smollm2-360m-instruct-q8_0.gguf";

/// Why a model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The hub could not be reached or refused.
    #[error("cannot download {file} from {repo} at {endpoint}: {message}")]
    Download {
        /// The repository.
        repo: String,
        /// The file.
        file: String,
        /// The hub's address.
        endpoint: String,
        /// Why.
        message: String,
    },
    /// The file arrived but does not match the hub's checksum.
    #[error("{} does not match the hub's SHA-256 (expected {expected}, got {actual}); it was removed, download it again", path.display())]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The hub's checksum.
        expected: String,
        /// The file's.
        actual: String,
    },
    /// Local file trouble.
    #[error("cannot use the model cache at {}: {message}", path.display())]
    Cache {
        /// Where.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Download progress, for a progress bar or a log.
pub trait DownloadProgress: Send + Sync {
    /// The download of `file` starts: `total` bytes.
    fn start(&self, file: &str, total: u64);
    /// `bytes` more arrived.
    fn advance(&self, bytes: u64);
    /// All arrived.
    fn finish(&self);
}

/// hf-hub's progress interface, forwarded to a [`DownloadProgress`].
#[derive(Clone)]
struct Forward(Arc<dyn DownloadProgress>);

impl Progress for Forward {
    async fn init(&mut self, size: usize, filename: &str) {
        self.0.start(filename, size as u64);
    }

    async fn update(&mut self, size: usize) {
        self.0.advance(size as u64);
    }

    async fn finish(&mut self) {
        self.0.finish();
    }
}

/// The hub's address: `HF_ENDPOINT` when set (a mirror), else huggingface.co.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into())
}

/// The cached copy of `file` from `repo`, if it was downloaded before (no network).
pub fn cached(cache_dir: &Path, repo: &str, file: &str) -> Option<PathBuf> {
    Cache::new(cache_dir.to_owned()).model(repo.to_owned()).get(file)
}

/// Downloads `file` from `repo` into `cache_dir` (resuming a partial download), checks its
/// SHA-256 against the hub's, and gives its path.
pub async fn pull(
    cache_dir: &Path,
    repo: &str,
    file: &str,
    progress: Arc<dyn DownloadProgress>,
) -> Result<PathBuf, HubError> {
    let endpoint = endpoint();
    let download_error = |message: String| HubError::Download {
        repo: repo.to_owned(),
        file: file.to_owned(),
        endpoint: endpoint.clone(),
        message,
    };
    std::fs::create_dir_all(cache_dir)
        .map_err(|error| HubError::Cache { path: cache_dir.to_owned(), message: error.to_string() })?;
    let api = ApiBuilder::from_cache(Cache::new(cache_dir.to_owned()))
        .with_endpoint(endpoint.clone())
        .with_progress(false)
        .with_user_agent("plugboard", env!("CARGO_PKG_VERSION"))
        .build()
        .map_err(|error| download_error(error_chain(&error)))?;
    let path = api
        .repo(Repo::model(repo.to_owned()))
        .download_with_progress(file, Forward(progress))
        .await
        .map_err(|error| download_error(error_chain(&error)))?;
    verify(&path).await?;
    Ok(path)
}

/// Checks a downloaded file against its blob name, which is the hub's SHA-256 for large
/// (LFS) files. Small files are named by a git hash and not checked here.
async fn verify(path: &Path) -> Result<(), HubError> {
    let blob = std::fs::canonicalize(path)
        .map_err(|error| HubError::Cache { path: path.to_owned(), message: error.to_string() })?;
    let expected = blob.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    if expected.len() != 64 || !expected.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Ok(());
    }
    let hashed = blob.clone();
    let actual = tokio::task::spawn_blocking(move || sha256_file(&hashed))
        .await
        .map_err(|error| HubError::Cache { path: blob.clone(), message: error.to_string() })?
        .map_err(|error| HubError::Cache { path: blob.clone(), message: error.to_string() })?;
    if actual != expected.to_ascii_lowercase() {
        let _ = std::fs::remove_file(&blob);
        let _ = std::fs::remove_file(path);
        return Err(HubError::Checksum { path: path.to_owned(), expected, actual });
    }
    Ok(())
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A model in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CachedModel {
    /// Hub repository.
    pub repo: String,
    /// File name.
    pub file: String,
    /// Where it is.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// Every GGUF file in the cache, by repository and file name.
pub fn list(cache_dir: &Path) -> Vec<CachedModel> {
    let mut models = Vec::new();
    let Ok(repos) = std::fs::read_dir(cache_dir) else { return models };
    for repo_dir in repos.flatten() {
        let folder = repo_dir.file_name().to_string_lossy().into_owned();
        let Some(repo) = folder.strip_prefix("models--") else { continue };
        let repo = repo.replacen("--", "/", 1);
        let Ok(snapshots) = std::fs::read_dir(repo_dir.path().join("snapshots")) else { continue };
        for snapshot in snapshots.flatten() {
            let Ok(files) = std::fs::read_dir(snapshot.path()) else { continue };
            for file in files.flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                if !name.ends_with(".gguf") {
                    continue;
                }
                let size = std::fs::metadata(file.path()).map_or(0, |metadata| metadata.len());
                models.push(CachedModel { repo: repo.clone(), file: name, path: file.path(), size });
            }
        }
    }
    models.sort_by(|a, b| (&a.repo, &a.file).cmp(&(&b.repo, &b.file)));
    models.dedup_by(|a, b| a.repo == b.repo && a.file == b.file);
    models
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Some errors repeat their cause in their own text; say each thing once.
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
