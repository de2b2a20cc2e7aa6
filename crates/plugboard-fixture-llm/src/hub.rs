//! A stand-in for the Hugging Face hub's file download protocol, for testing model
//! downloads: `GET /<repo>/resolve/main/<file>` with `Range` requests, answering with
//! the headers the hub sends (`x-repo-commit`, `x-linked-etag` holding the SHA-256,
//! `content-range`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// A file the hub serves.
#[derive(Debug, Clone)]
pub struct HubFile {
    /// Repository, `owner/name`.
    pub repo: String,
    /// File name.
    pub file: String,
    /// Contents.
    pub bytes: Vec<u8>,
    /// The SHA-256 the hub announces; `None` announces the true one.
    pub announced_sha256: Option<String>,
}

/// A running fixture hub.
#[derive(Debug, Clone)]
pub struct FixtureHub {
    /// Its address.
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct Files {
    files: Arc<Vec<HubFile>>,
    requests: Arc<AtomicUsize>,
}

impl FixtureHub {
    /// Starts on 127.0.0.1 on a free port, serving `files`.
    pub async fn start(files: Vec<HubFile>) -> anyhow::Result<FixtureHub> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicUsize::new(0));
        let state = Files { files: Arc::new(files), requests: requests.clone() };
        let app = axum::Router::new().route("/{*path}", get(download)).with_state(state);
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("fixture hub stopped: {error}");
            }
        });
        Ok(FixtureHub { addr, requests })
    }

    /// The endpoint to configure (`HF_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn download(State(state): State<Files>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let Some(found) = state.files.iter().find(|file| path == format!("{}/resolve/main/{}", file.repo, file.file))
    else {
        return (StatusCode::NOT_FOUND, [("x-error-code", "EntryNotFound")], "no such file").into_response();
    };
    let length = found.bytes.len();
    let sha256 = found.announced_sha256.clone().unwrap_or_else(|| hex::encode(Sha256::digest(&found.bytes)));
    let range = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("bytes="))
        .and_then(|value| value.split_once('-'))
        .and_then(|(start, end)| Some((start.parse::<usize>().ok()?, end.parse::<usize>().ok()?)));
    let common = [
        ("x-repo-commit", "0123456789abcdef0123456789abcdef01234567".to_owned()),
        ("x-linked-etag", format!("\"{sha256}\"")),
        ("etag", format!("\"{sha256}\"")),
    ];
    match range {
        Some((start, end)) if start < length => {
            let end = end.min(length - 1);
            let mut response = (StatusCode::PARTIAL_CONTENT, found.bytes[start..=end].to_vec()).into_response();
            let response_headers = response.headers_mut();
            for (name, value) in common {
                response_headers.insert(name, value.parse().expect("header value"));
            }
            response_headers
                .insert(header::CONTENT_RANGE, format!("bytes {start}-{end}/{length}").parse().expect("header value"));
            response
        }
        Some(_) => (StatusCode::RANGE_NOT_SATISFIABLE, "range outside the file").into_response(),
        None => {
            let mut response = (StatusCode::OK, found.bytes.clone()).into_response();
            for (name, value) in common {
                response.headers_mut().insert(name, value.parse().expect("header value"));
            }
            response
        }
    }
}
