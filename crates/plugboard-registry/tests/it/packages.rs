//! Installing packages: the data-driven cases of `tests/packages/` (one folder per case:
//! `case.toml` says how the package is made and installed, `expected.txt` what happens;
//! `BLESS=1` rewrites the expectations), then uninstalling.

use std::fmt::Write as _;
use std::path::Path;

use plugboard_package::testing::{RawEntry, entries_of, raw_archive};
use plugboard_package::{Limits, Package, Policy, SigningKey, TrustStore};
use plugboard_registry::{InstallOptions, Registry};
use plugboard_test_plugins::{copy_plugin_folder, plugin_dir};
use serde::Deserialize;

use crate::{Setup, check_expected, id, stop};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// The built plugin (from `plugins/`) whose folder is packed.
    plugin: String,
    /// `trusted`, `untrusted` or `none`.
    sign: String,
    #[serde(default)]
    policy: Policy,
    #[serde(default)]
    force: bool,
    /// `[from, to]` text replacements in plugin.toml before packing.
    #[serde(default)]
    manifest_edits: Vec<(String, String)>,
    /// Another plugin whose component replaces this one's.
    component_from: Option<String>,
    /// Bytes that replace the component.
    component_bytes: Option<String>,
    /// A file changed after signing.
    tamper: Option<String>,
    /// Entries added to the archive after signing.
    #[serde(default)]
    extra: Vec<Extra>,
    max_archive_bytes: Option<u64>,
    max_unpacked_bytes: Option<u64>,
    /// A version of the same plugin installed (signed, trusted) first.
    preinstall_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Extra {
    kind: String,
    path: String,
    target: Option<String>,
    size: Option<usize>,
}

pub(crate) fn key(name: &str) -> SigningKey {
    SigningKey::read(&packages_root().join("keys").join(format!("{name}.key"))).unwrap()
}

fn packages_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/packages")
}

pub(crate) fn trust() -> TrustStore {
    let mut trust = TrustStore::new();
    trust.add(key("trusted").public());
    trust
}

/// A signed, trusted package of a built plugin, with its manifest edited.
pub(crate) fn package_of(plugin: &str, edits: &[(String, String)], build: impl FnOnce(&Path)) -> Package {
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join(plugin);
    copy_plugin_folder(&plugin_dir(plugin), &folder).unwrap();
    let manifest = folder.join("plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from.as_str()), "`{from}` is not in {plugin}'s manifest");
        text = text.replace(from.as_str(), to);
    }
    std::fs::write(&manifest, text).unwrap();
    build(&folder);
    Package::pack(&folder).unwrap()
}

pub(crate) fn version_edit(plugin: &str, version: &str) -> (String, String) {
    let text = std::fs::read_to_string(plugin_dir(plugin).join("plugin.toml")).unwrap();
    let line = text.lines().find(|line| line.starts_with("version")).unwrap().to_owned();
    (line, format!("version = \"{version}\""))
}

fn make_archive(case: &Case) -> Vec<u8> {
    let mut package = package_of(&case.plugin, &case.manifest_edits, |folder| {
        if let Some(other) = &case.component_from {
            std::fs::copy(plugin_dir(other).join("plugin.wasm"), folder.join("plugin.wasm")).unwrap();
        }
        if let Some(bytes) = &case.component_bytes {
            std::fs::write(folder.join("plugin.wasm"), bytes).unwrap();
        }
    });
    match case.sign.as_str() {
        "trusted" | "untrusted" => package.sign(&key(&case.sign)),
        "none" => {}
        other => panic!("unknown `sign = \"{other}\"`"),
    }
    let mut entries = entries_of(&package);
    if let Some(path) = &case.tamper {
        let entry = entries.iter_mut().find(|entry| entry.path() == path).unwrap();
        let RawEntry::File { bytes, .. } = entry else { panic!("{path} is not a file") };
        bytes.extend_from_slice(b"\n# changed after signing\n");
    }
    for extra in &case.extra {
        let path = extra.path.clone();
        let target = extra.target.clone().unwrap_or_default();
        entries.push(match extra.kind.as_str() {
            "file" => RawEntry::File { path, bytes: b"escaped".to_vec() },
            "zeros" => RawEntry::File { path, bytes: vec![0; extra.size.unwrap()] },
            "symlink" => RawEntry::Symlink { path, target },
            "hardlink" => RawEntry::HardLink { path, target },
            other => panic!("unknown extra kind `{other}`"),
        });
    }
    raw_archive(&entries)
}

async fn run_case(case_dir: &Path) -> String {
    let case: Case = toml::from_str(&std::fs::read_to_string(case_dir.join("case.toml")).unwrap())
        .unwrap_or_else(|error| panic!("{}: {error}", case_dir.display()));
    let setup = Setup::with(&[]);
    let registry = setup.start().await;
    let mut out = String::new();
    if let Some(version) = &case.preinstall_version {
        let mut first = package_of(&case.plugin, &[version_edit(&case.plugin, version)], |_| {});
        first.sign(&key("trusted"));
        let options = InstallOptions { trust: trust(), ..InstallOptions::default() };
        let installed = registry.install_package(&first.to_bytes().unwrap(), &options).await.unwrap();
        writeln!(out, "preinstalled {} {}", installed.plugin, installed.version).unwrap();
    }
    let defaults = Limits::default();
    let options = InstallOptions {
        trust: trust(),
        policy: case.policy,
        force: case.force,
        limits: Limits {
            max_archive_bytes: case.max_archive_bytes.unwrap_or(defaults.max_archive_bytes),
            max_unpacked_bytes: case.max_unpacked_bytes.unwrap_or(defaults.max_unpacked_bytes),
            ..defaults
        },
    };
    match registry.install_package(&make_archive(&case), &options).await {
        Ok(installed) => {
            let verification = &installed.verification;
            writeln!(
                out,
                "installed {} {} (replacing {}); signer {:?}, trusted {}",
                installed.plugin,
                installed.version,
                installed.replaced.map_or("nothing".to_owned(), |v| v.to_string()),
                verification.signer,
                verification.trusted
            )
            .unwrap();
            for warning in &verification.warnings {
                writeln!(out, "warning: {warning}").unwrap();
            }
            let record = registry.install_record(&installed.plugin).unwrap();
            assert_eq!(record.version, installed.version);
            assert_eq!(record.sha256, installed.sha256);
        }
        Err(error) => writeln!(out, "refused {}: {error}", error.code()).unwrap(),
    }
    describe_state(&registry, &case.plugin, setup.plugins.as_path(), &mut out);
    stop(registry).await;
    normalize_archive_size(&out.replace(&setup.plugins.display().to_string(), "<plugins>"))
}

/// The packed size of a real component changes with every compiler; the limit is what
/// the case is about.
fn normalize_archive_size(text: &str) -> String {
    let Some(start) = text.find("the archive is ").map(|at| at + "the archive is ".len()) else {
        return text.to_owned();
    };
    let end = start + text[start..].find(' ').unwrap_or(0);
    format!("{}<size>{}", &text[..start], &text[end..])
}

/// What is loaded and what is on disk afterwards: a refused package leaves no trace.
fn describe_state(registry: &Registry, plugin: &str, plugins: &Path, out: &mut String) {
    match registry.plugin(&id(plugin)) {
        Some(loaded) => writeln!(out, "loaded: {plugin} {}", loaded.version()).unwrap(),
        None => writeln!(out, "loaded: nothing").unwrap(),
    }
    let mut folders: Vec<String> = std::fs::read_dir(plugins)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".staging")
        .collect();
    folders.sort();
    let staging: Vec<_> =
        std::fs::read_dir(plugins.join(".staging")).map(|dir| dir.collect::<Vec<_>>()).unwrap_or_default();
    assert!(staging.is_empty(), "staging is cleaned up: {staging:?}");
    assert!(!plugins.parent().unwrap().join("outside.txt").exists(), "nothing escaped");
    assert!(!Path::new("/tmp/plugboard-escape.txt").exists(), "nothing escaped");
    writeln!(out, "folders: {}", if folders.is_empty() { "none".to_owned() } else { folders.join(", ") }).unwrap();
}

#[tokio::test]
async fn package_cases() {
    let root = packages_root();
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("case.toml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 17, "the package cases are missing from {}", root.display());
    let mut failures = Vec::new();
    for case in cases {
        let actual = run_case(&case).await;
        check_expected(&case, &actual, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn an_installed_package_runs_and_uninstalling_removes_it() {
    let setup = Setup::with(&[]);
    let registry = setup.start().await;
    let mut package = package_of("calculator", &[], |_| {});
    package.sign(&key("trusted"));
    let options = InstallOptions { trust: trust(), ..InstallOptions::default() };
    let installed = registry.install_package(&package.to_bytes().unwrap(), &options).await.unwrap();
    assert_eq!(installed.folder, setup.plugins.join("calculator"));
    let calculator = registry.plugin(&id("calculator")).unwrap();
    let answer = calculator.run_with_input(&Default::default(), "6 * 7").await.unwrap();
    assert!(answer.contains("42"), "{answer}");
    assert!(installed.folder.join("SIGNATURE").is_file());

    let removed = registry.uninstall(&id("calculator")).await.unwrap();
    assert_eq!(removed, setup.plugins.join("calculator"));
    assert!(registry.plugin(&id("calculator")).is_none());
    assert!(!removed.exists());
    let error = registry.uninstall(&id("calculator")).await.unwrap_err();
    assert_eq!(error.code(), "plugin_not_found", "{error}");
    stop(registry).await;
}

#[tokio::test]
async fn folders_not_installed_from_packages_are_not_uninstalled() {
    let setup = Setup::with(&["calculator"]);
    let dev = tempfile::tempdir().unwrap();
    copy_plugin_folder(&plugin_dir("word-stats"), &dev.path().join("word-stats")).unwrap();
    let config = plugboard_registry::RegistryConfig {
        directories: vec![setup.plugins.clone(), dev.path().to_owned()],
        ..setup.config()
    };
    let registry = setup.start_with(config).await;
    // The install folder's own plugins can be uninstalled, whatever put them there.
    registry.uninstall(&id("calculator")).await.unwrap();
    let error = registry.uninstall(&id("word-stats")).await.unwrap_err();
    assert_eq!(error.code(), "plugin_not_installed");
    assert!(error.to_string().contains("remove that folder"), "{error}");
    // And a package cannot replace a plugin a development folder provides.
    let mut package = package_of("word-stats", &[], |_| {});
    package.sign(&key("trusted"));
    let options = InstallOptions { trust: trust(), ..InstallOptions::default() };
    let error = registry.install_package(&package.to_bytes().unwrap(), &options).await.unwrap_err();
    assert_eq!(error.code(), "install_folder");
    assert!(error.to_string().contains("not managed by installs"), "{error}");
    stop(registry).await;
}

/// A tiny HTTP server answering GETs for `files` (by path) and counting the requests.
fn serve_files(files: Vec<(String, Vec<u8>)>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let found = files.iter().find(|(name, _)| *name == path);
            let (status, body) = match found {
                Some((_, body)) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"not found".to_vec()),
            };
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        }
    });
    (base, count)
}

#[tokio::test]
async fn an_index_at_a_url_is_listed_from_a_short_cache_and_installs_fetch_it_again() {
    let mut package = package_of("calculator", &[version_edit("calculator", "0.3.0")], |_| {});
    package.sign(&key("trusted"));
    let bytes = package.to_bytes().unwrap();
    let entry = plugboard_package::IndexEntry::describe(&package, &bytes, "packages/calculator-0.3.0.plugboard");
    let index =
        plugboard_package::Index { format: "plugboard-index-v1".into(), name: "Served".into(), plugins: vec![entry] };
    let (base, requests) = serve_files(vec![
        ("/plugins/index.json".into(), serde_json::to_vec(&index).unwrap()),
        ("/plugins/packages/calculator-0.3.0.plugboard".into(), bytes),
    ]);
    let catalogue = plugboard_registry::Catalogue::new(&format!("{base}/plugins/index.json")).unwrap();
    assert_eq!(catalogue.index().await.unwrap().name, "Served");
    assert_eq!(catalogue.index().await.unwrap().plugins.len(), 1);
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1, "a listing reuses the index for a while");

    let setup = Setup::with(&[]);
    let registry = setup.start().await;
    let options = InstallOptions { trust: trust(), ..InstallOptions::default() };
    let installed = registry.install_from_index(&catalogue, "calculator", None, &options, &|_, _| {}).await.unwrap();
    assert_eq!(installed.version.to_string(), "0.3.0");
    // The index again (an install never trusts a cached one) and the package, relative to it.
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 3);

    let missing = plugboard_registry::Catalogue::new(&format!("{base}/nowhere/index.json")).unwrap();
    let error = missing.index().await.unwrap_err();
    assert!(error.to_string().contains("cannot download it"), "{error}");
    stop(registry).await;
}
