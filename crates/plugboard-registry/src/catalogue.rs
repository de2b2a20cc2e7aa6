//! Plugin indexes by location: a local file or an `http(s)` URL. Fetches the index and
//! the packages it lists (relative locations resolve against the index's), checking each
//! package's size and SHA-256 against its entry before anything is installed.

use std::path::PathBuf;
use std::time::Duration;

use plugboard_package::{Index, IndexEntry, Limits, PackageError};

use crate::{InstallOptions, Installed, Registry, RegistryError};

/// How long an index read from a URL is reused for listings (installs always fetch it
/// again): the admin page lists the catalogue after every plugin event.
const URL_INDEX_TTL: Duration = Duration::from_secs(30);

/// Where an index is.
#[derive(Debug, Clone)]
pub struct Catalogue {
    location: Location,
    client: reqwest::Client,
    recent: std::sync::Arc<std::sync::Mutex<Option<(std::time::Instant, Index)>>>,
}

#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    Url(url::Url),
}

impl Catalogue {
    /// The index at `location`: an `http://` or `https://` URL, or a file path.
    pub fn new(location: &str) -> Result<Catalogue, RegistryError> {
        let location = match url::Url::parse(location) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Location::Url(url),
            Ok(url) if url.scheme() == "file" => Location::File(
                url.to_file_path()
                    .map_err(|()| catalogue_error(location, "the file URL has no usable path".to_owned()))?,
            ),
            _ => Location::File(PathBuf::from(location)),
        };
        let tls = plugboard_host::tls_config().map_err(|error| catalogue_error("TLS", error))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|error| catalogue_error("HTTP client", error.to_string()))?;
        Ok(Catalogue { location, client, recent: Default::default() })
    }

    /// The index's location, as given.
    pub fn location(&self) -> String {
        match &self.location {
            Location::File(path) => path.display().to_string(),
            Location::Url(url) => url.to_string(),
        }
    }

    /// The index for a listing: a URL's is reused for a short while; a file is read again.
    pub async fn index(&self) -> Result<Index, RegistryError> {
        if matches!(self.location, Location::File(_)) {
            return self.fetch_index().await;
        }
        {
            let recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, index)) = recent.as_ref()
                && at.elapsed() < URL_INDEX_TTL
            {
                return Ok(index.clone());
            }
        }
        let index = self.fetch_index().await?;
        *self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), index.clone()));
        Ok(index)
    }

    /// Fetches and parses the index now.
    pub async fn fetch_index(&self) -> Result<Index, RegistryError> {
        let bytes = match &self.location {
            Location::File(path) => std::fs::read(path)
                .map_err(|error| catalogue_error(&self.location(), format!("cannot read it: {error}")))?,
            Location::Url(url) => self.download(url.clone(), 16 << 20, &|_, _| {}).await?,
        };
        Ok(Index::parse(&bytes, &self.location())?)
    }

    /// Fetches the package of `entry`, checked against its size and checksum.
    /// `progress(done, total)` hears of the download.
    pub async fn package(
        &self,
        entry: &IndexEntry,
        limits: &Limits,
        progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
    ) -> Result<Vec<u8>, RegistryError> {
        if entry.size > limits.max_archive_bytes {
            return Err(PackageError::TooLarge {
                what: "the archive",
                size: entry.size,
                limit: limits.max_archive_bytes,
            }
            .into());
        }
        let bytes = match (&self.location, url::Url::parse(&entry.url)) {
            (_, Ok(url)) if matches!(url.scheme(), "http" | "https") => {
                self.download(url, limits.max_archive_bytes, progress).await?
            }
            (Location::Url(base), _) => {
                let url = base
                    .join(&entry.url)
                    .map_err(|error| catalogue_error(&self.location(), format!("bad url `{}`: {error}", entry.url)))?;
                self.download(url, limits.max_archive_bytes, progress).await?
            }
            (Location::File(index), _) => {
                let path = index.parent().unwrap_or(std::path::Path::new(".")).join(&entry.url);
                let bytes = std::fs::read(&path).map_err(|error| {
                    catalogue_error(&self.location(), format!("cannot read {}: {error}", path.display()))
                })?;
                progress(bytes.len() as u64, Some(bytes.len() as u64));
                bytes
            }
        };
        entry.check(&bytes)?;
        Ok(bytes)
    }

    async fn download(
        &self,
        url: url::Url,
        max_bytes: u64,
        progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
    ) -> Result<Vec<u8>, RegistryError> {
        let shown = url.to_string();
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| catalogue_error(&shown, format!("cannot download it: {error}")))?;
        let total = response.content_length();
        let mut bytes = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|error| catalogue_error(&shown, format!("the download broke: {error}")))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max_bytes {
                return Err(PackageError::TooLarge {
                    what: "the download",
                    size: bytes.len() as u64,
                    limit: max_bytes,
                }
                .into());
            }
            progress(bytes.len() as u64, total);
        }
        Ok(bytes)
    }
}

impl Registry {
    /// Installs `id` (its newest version, or `version`) from the index: downloads the
    /// package, checks it against the index's checksum, then installs it like an upload.
    pub async fn install_from_index(
        &self,
        catalogue: &Catalogue,
        id: &str,
        version: Option<&semver::Version>,
        options: &InstallOptions,
        progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
    ) -> Result<Installed, RegistryError> {
        let index = catalogue.fetch_index().await?;
        let entry = index.find(id, version).ok_or_else(|| {
            let wanted = version.map_or_else(|| format!("`{id}`"), |version| format!("`{id}` {version}"));
            let known: Vec<String> = index.latest().iter().map(|entry| entry.id.to_string()).collect();
            catalogue_error(
                &catalogue.location(),
                format!(
                    "it lists no {wanted}; it has: {}",
                    if known.is_empty() { "nothing".to_owned() } else { known.join(", ") }
                ),
            )
        })?;
        let bytes = catalogue.package(entry, &options.limits, progress).await?;
        self.install_package(&bytes, options).await
    }
}

fn catalogue_error(source_name: &str, reason: String) -> RegistryError {
    RegistryError::Package(PackageError::BadIndex { source_name: source_name.to_owned(), reason })
}
