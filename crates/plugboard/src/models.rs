//! The embedded local model for `serve` (which file, downloading it on first use, loading
//! it in the background) and the `model pull` / `model list` commands.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use plugboard_local::hub::{self, DownloadProgress};
use plugboard_local::{LocalConfig, LocalModel, LocalProvider, LocalState};

use crate::config::FileConfig;

/// The local model's settings on the command line.
#[derive(Debug, clap::Args)]
pub(crate) struct LocalOptions {
    /// A GGUF model file to run in-process as the `local` provider. Default: the hub model
    /// of `[models.local]`, else SmolLM2-360M-Instruct, downloaded on first use.
    #[arg(long, env = "PLUGBOARD_MODEL")]
    model: Option<PathBuf>,
    /// Never download the default local model (offline machines, or another model server).
    #[arg(long, env = "PLUGBOARD_NO_MODEL_DOWNLOAD")]
    no_model_download: bool,
    /// Where downloaded models are kept. Default: the data folder's `models/`.
    #[arg(long, env = "PLUGBOARD_MODELS_DIR")]
    models_dir: Option<PathBuf>,
}

/// Options of the `model` commands.
#[derive(Debug, clap::Args)]
pub(crate) struct ModelDirOptions {
    /// A TOML configuration file. Default: `plugboard.toml` in the current directory.
    #[arg(long, env = "PLUGBOARD_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The data folder (models go to its `models/`).
    #[arg(long, env = "PLUGBOARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where downloaded models are kept. Default: the data folder's `models/`.
    #[arg(long, env = "PLUGBOARD_MODELS_DIR")]
    models_dir: Option<PathBuf>,
}

impl ModelDirOptions {
    pub(crate) fn models_dir(&self, file: &FileConfig) -> PathBuf {
        let data_dir =
            self.data_dir.clone().or_else(|| file.data_dir.clone()).unwrap_or_else(|| "plugboard-data".into());
        models_dir(self.models_dir.as_deref(), file, &data_dir)
    }
}

fn models_dir(flag: Option<&Path>, file: &FileConfig, data_dir: &Path) -> PathBuf {
    flag.map(Path::to_owned).or_else(|| file.models.local.models_dir.clone()).unwrap_or_else(|| data_dir.join("models"))
}

/// What to do to get a model, said wherever chat fails for the lack of one.
const WHAT_TO_DO: &str = "to chat, start with --model <file.gguf> (or [models.local] path), download one with `plugboard model pull <hub-repo> <file>`, or point at an OpenAI-compatible server with PLUGBOARD_OPENAI_BASE_URL";

/// The local provider for `serve`, and the id of its model when it will have one. The
/// model loads in the background (downloaded first when it is the default one and not
/// cached); until then the provider says what it is doing. With another model server
/// (`remote`), only an explicitly configured file is loaded.
pub(crate) fn start_local(
    options: &LocalOptions,
    file: &FileConfig,
    data_dir: &Path,
    remote: bool,
) -> (LocalProvider, Option<String>) {
    let settings = &file.models.local;
    let defaults = LocalConfig::default();
    let config = LocalConfig {
        max_concurrent: settings.max_concurrent.unwrap_or(defaults.max_concurrent),
        max_queued: settings.max_queued.unwrap_or(defaults.max_queued),
        max_context: settings.context.unwrap_or(defaults.max_context),
        system_prompt: file.models.system_prompt.clone().unwrap_or(defaults.system_prompt),
        threads: settings.threads.unwrap_or(defaults.threads),
        prefix_cache_mb: settings.prefix_cache_mb.unwrap_or(defaults.prefix_cache_mb),
        stream_interval_ms: settings.stream_interval_ms.unwrap_or(defaults.stream_interval_ms),
    };
    let cache = models_dir(options.models_dir.as_deref(), file, data_dir);
    let repo = settings.repo.clone().unwrap_or_else(|| hub::DEFAULT_REPO.to_owned());
    let hub_file = settings.file.clone().unwrap_or_else(|| hub::DEFAULT_FILE.to_owned());
    let explicit = options.model.clone().or_else(|| settings.path.clone());
    let download = !options.no_model_download && settings.auto_download != Some(false);

    let provider = LocalProvider::new(LocalState::Preparing("starting".into()));
    let (name, source) = match explicit {
        Some(path) => (model_name(&path), Source::File(path)),
        None if remote => {
            provider.set(LocalState::Unavailable(
                "no local model runs because another model server is configured; start with --model <file.gguf> to run one too".into(),
            ));
            return (provider, None);
        }
        None => match hub::cached(&cache, &repo, &hub_file) {
            Some(path) => (model_name(&path), Source::File(path)),
            None if download => (model_name(Path::new(&hub_file)), Source::Hub),
            None => {
                provider.set(LocalState::Unavailable(format!(
                    "no local model is installed ({hub_file} from {repo} is not in {}); {WHAT_TO_DO}",
                    cache.display()
                )));
                return (provider, None);
            }
        },
    };
    let background = provider.clone();
    tokio::spawn(async move {
        let path = match source {
            Source::File(path) => path,
            Source::Hub => {
                background.set(LocalState::Preparing(format!("downloading {hub_file} from {repo}")));
                let progress = Arc::new(LogProgress::new(background.clone(), &repo));
                match hub::pull(&cache, &repo, &hub_file, progress).await {
                    Ok(path) => path,
                    Err(error) => {
                        tracing::warn!("{error}");
                        background.set(LocalState::Unavailable(format!(
                            "the default local model could not be downloaded ({error}); {WHAT_TO_DO}"
                        )));
                        return;
                    }
                }
            }
        };
        background.set(LocalState::Preparing(format!("loading {}", path.display())));
        let loading = path.clone();
        let loaded = tokio::task::spawn_blocking(move || LocalModel::load(&loading, config)).await;
        match loaded {
            Ok(Ok(model)) => background.set(LocalState::Ready(model)),
            Ok(Err(error)) => {
                tracing::warn!("{error}");
                background.set(LocalState::Unavailable(format!("{error}; {WHAT_TO_DO}")));
            }
            Err(error) => background.set(LocalState::Unavailable(format!("loading the local model failed: {error}"))),
        }
    });
    (provider, Some(format!("local/{name}")))
}

enum Source {
    File(PathBuf),
    Hub,
}

/// The id a model file gets in the `local` provider.
fn model_name(path: &Path) -> String {
    path.file_name().map(|name| name.to_string_lossy().trim_end_matches(".gguf").to_owned()).unwrap_or_default()
}

/// Download progress in the log (every 10 %) and in the provider's state.
struct LogProgress {
    provider: LocalProvider,
    repo: String,
    file: std::sync::Mutex<String>,
    total: AtomicU64,
    done: AtomicU64,
    logged: AtomicU64,
}

impl LogProgress {
    fn new(provider: LocalProvider, repo: &str) -> LogProgress {
        LogProgress {
            provider,
            repo: repo.to_owned(),
            file: std::sync::Mutex::default(),
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            logged: AtomicU64::new(0),
        }
    }
}

impl DownloadProgress for LogProgress {
    fn start(&self, file: &str, total: u64) {
        *self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = file.to_owned();
        self.total.store(total, Ordering::SeqCst);
        tracing::info!("downloading the local model {file} from {} ({} MB)", self.repo, total >> 20);
    }

    fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::SeqCst) + bytes;
        let total = self.total.load(Ordering::SeqCst).max(1);
        let percent = done * 100 / total;
        let file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        if percent / 10 > self.logged.load(Ordering::SeqCst) {
            self.logged.store(percent / 10, Ordering::SeqCst);
            tracing::info!("downloading {file}: {percent}%");
        }
        self.provider.set(LocalState::Preparing(format!("downloading {file} from {}: {percent}%", self.repo)));
    }

    fn finish(&self) {
        tracing::info!("downloaded the local model");
    }
}

/// A progress bar on the terminal for `model pull`.
struct BarProgress(indicatif::ProgressBar);

impl DownloadProgress for BarProgress {
    fn start(&self, file: &str, total: u64) {
        self.0.set_length(total);
        self.0.set_message(file.to_owned());
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish();
    }
}

/// `plugboard model pull <repo> <file>`.
pub(crate) async fn pull(options: &ModelDirOptions, repo: &str, file: &str) -> anyhow::Result<PathBuf> {
    let config = FileConfig::load(options.config.as_deref())?;
    let cache = options.models_dir(&config);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let path = hub::pull(&cache, repo, file, Arc::new(BarProgress(bar))).await?;
    Ok(std::path::absolute(&path).unwrap_or(path))
}

/// `plugboard model list`: the models in the cache.
pub(crate) fn list(options: &ModelDirOptions) -> anyhow::Result<String> {
    let config = FileConfig::load(options.config.as_deref())?;
    let cache = options.models_dir(&config);
    let models = hub::list(&cache);
    if models.is_empty() {
        return Ok(format!(
            "no models in {}; download one with `plugboard model pull {} {}`\n",
            cache.display(),
            hub::DEFAULT_REPO,
            hub::DEFAULT_FILE
        ));
    }
    let mut out = String::new();
    for model in models {
        out.push_str(&format!(
            "local/{}  {} MB  {}/{}\n  {}\n",
            model_name(&model.path),
            model.size >> 20,
            model.repo,
            model.file,
            model.path.display()
        ));
    }
    Ok(out)
}
