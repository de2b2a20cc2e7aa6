//! Packages through the crate's public API: packing, reading (and every refusal of
//! `read`), signing and verifying under each policy, key files, and the index. Whether a
//! component matches its manifest needs a runtime and is tested with the registry.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;

use plugboard_package::testing::{RawEntry, entries_of, raw_archive};
use plugboard_package::{
    Index, Limits, Package, PackageError, Policy, PublicKey, SIGNATURE_FILE, SigningKey, TrustStore, sha256_hex,
};

const MANIFEST: &str = r#"
id = "hello"
name = "Hello"
version = "1.2.0"
description = "Says hello"
abi = "0.1"
permissions = ["kv"]

[[ui]]
mount = "sidebar"
entry = "ui/index.html"
title = "Hello"
"#;

/// A plugin folder: manifest, a stand-in component (this crate never runs it), UI,
/// docs, README, plus files that must not be packed.
fn plugin_folder(root: &Path) -> std::path::PathBuf {
    let folder = root.join("hello");
    std::fs::create_dir_all(folder.join("ui/img")).unwrap();
    std::fs::create_dir_all(folder.join("docs")).unwrap();
    std::fs::create_dir_all(folder.join("src")).unwrap();
    std::fs::write(folder.join("plugin.toml"), MANIFEST).unwrap();
    std::fs::write(folder.join("plugin.wasm"), b"\0asm component bytes").unwrap();
    std::fs::write(folder.join("ui/index.html"), "<p>hi</p>").unwrap();
    std::fs::write(folder.join("ui/img/logo.svg"), "<svg/>").unwrap();
    std::fs::write(folder.join("ui/.hidden"), "no").unwrap();
    std::fs::write(folder.join("docs/usage.md"), "# Usage").unwrap();
    std::fs::write(folder.join("README.md"), "# Hello").unwrap();
    std::fs::write(folder.join("src/lib.rs"), "// not packed").unwrap();
    std::fs::write(folder.join("Cargo.toml"), "# not packed").unwrap();
    folder
}

fn packed() -> Package {
    let root = tempfile::tempdir().unwrap();
    Package::pack(&plugin_folder(root.path())).unwrap()
}

fn read(bytes: &[u8]) -> Result<Package, PackageError> {
    Package::read(bytes, &Limits::default())
}

fn paths(package: &Package) -> Vec<&str> {
    package.files().map(|(path, _)| path).collect()
}

#[test]
fn packing_takes_the_plugin_files_and_nothing_else() {
    let package = packed();
    assert_eq!(
        paths(&package),
        ["README.md", "docs/usage.md", "plugin.toml", "plugin.wasm", "ui/img/logo.svg", "ui/index.html"]
    );
    assert_eq!(package.file_name(), "hello-1.2.0.plugboard");
    assert_eq!(package.component(), b"\0asm component bytes");
    assert!(package.signature().is_none());
}

#[test]
fn an_archive_reads_back_to_the_same_files_and_packing_is_deterministic() {
    let package = packed();
    let bytes = package.to_bytes().unwrap();
    assert_eq!(bytes, packed().to_bytes().unwrap(), "the same files make the same bytes");
    let again = read(&bytes).unwrap();
    assert_eq!(paths(&again), paths(&package));
    assert_eq!(again.manifest().id.as_str(), "hello");
    assert_eq!(again.content_digest(), package.content_digest());
}

#[test]
fn a_folder_with_a_link_is_not_packed() {
    let root = tempfile::tempdir().unwrap();
    let folder = plugin_folder(root.path());
    std::os::unix::fs::symlink("/etc/passwd", folder.join("docs/passwd.md")).unwrap();
    let error = Package::pack(&folder).unwrap_err();
    assert_eq!(error.code(), "package_link", "{error}");
    assert!(error.to_string().contains("docs/passwd.md"), "{error}");
}

#[test]
fn signing_then_verifying_with_the_key_trusted() {
    let mut package = packed();
    let key = SigningKey::generate(Some("Ada <ada@example.org>".into())).unwrap();
    package.sign(&key);
    let package = read(&package.to_bytes().unwrap()).unwrap();
    let mut trust = TrustStore::new();
    trust.add(key.public());
    let verification = package.verify(&trust, Policy::Require).unwrap();
    assert!(verification.trusted);
    assert_eq!(verification.signer_fingerprint.as_deref(), Some(key.public().fingerprint().as_str()));
    assert_eq!(verification.signer.as_deref(), Some("Ada <ada@example.org>"));
    assert!(verification.warnings.is_empty());
}

#[test]
fn each_policy_decides_unsigned_and_untrusted_packages() {
    let unsigned = read(&packed().to_bytes().unwrap()).unwrap();
    let mut signed = packed();
    let stranger = SigningKey::generate(Some("stranger".into())).unwrap();
    signed.sign(&stranger);
    let trust = TrustStore::new();

    let error = unsigned.verify(&trust, Policy::Require).unwrap_err();
    assert_eq!(error.code(), "package_unsigned");
    assert!(error.to_string().contains("plugboard plugin sign"), "{error}");
    let warned = unsigned.verify(&trust, Policy::Warn).unwrap();
    assert!(!warned.trusted);
    assert!(warned.warnings[0].contains("not signed"), "{warned:?}");

    let error = signed.verify(&trust, Policy::Require).unwrap_err();
    assert_eq!(error.code(), "package_untrusted_key");
    assert!(error.to_string().contains(&stranger.public().fingerprint()), "{error}");
    assert!(error.to_string().contains("plugboard plugin trust"), "{error}");
    let warned = signed.verify(&trust, Policy::Warn).unwrap();
    assert!(warned.warnings[0].contains("untrusted key"), "{warned:?}");
    assert_eq!(warned.signer.as_deref(), Some("stranger"));

    assert!(unsigned.verify(&trust, Policy::Off).is_ok());
}

#[test]
fn a_file_changed_after_signing_breaks_the_signature_under_every_checking_policy() {
    let mut package = packed();
    let key = SigningKey::generate(None).unwrap();
    package.sign(&key);
    let mut entries = entries_of(&package);
    for entry in &mut entries {
        if let RawEntry::File { path, bytes } = entry
            && path == "ui/index.html"
        {
            bytes.extend_from_slice(b"<script>steal()</script>");
        }
    }
    let tampered = read(&raw_archive(&entries)).unwrap();
    let mut trust = TrustStore::new();
    trust.add(key.public());
    for policy in [Policy::Require, Policy::Warn] {
        let error = tampered.verify(&trust, policy).unwrap_err();
        assert_eq!(error.code(), "package_bad_signature", "{policy}: {error}");
        assert!(error.to_string().contains("changed after signing"), "{error}");
    }
    // An added file is a change too.
    let mut added = entries_of(&package);
    added.insert(0, RawEntry::File { path: "docs/extra.md".into(), bytes: b"new".to_vec() });
    let error = read(&raw_archive(&added)).unwrap().verify(&trust, Policy::Require).unwrap_err();
    assert_eq!(error.code(), "package_bad_signature");
}

#[test]
fn a_signature_file_that_is_not_one_is_refused_when_read() {
    let mut entries = entries_of(&packed());
    entries.push(RawEntry::File { path: SIGNATURE_FILE.into(), bytes: b"trust me".to_vec() });
    let error = read(&raw_archive(&entries)).unwrap_err();
    assert_eq!(error.code(), "package_invalid");
    assert!(error.to_string().contains("SIGNATURE"), "{error}");
}

/// Every way `read` refuses an archive, with the code and a part of the message.
#[test]
fn unsafe_or_broken_archives_are_refused_before_anything_is_written() {
    let good = entries_of(&packed());
    let with = |extra: RawEntry| {
        let mut entries = good.clone();
        entries.push(extra);
        raw_archive(&entries)
    };
    let without = |path: &str| raw_archive(&good.iter().filter(|e| e.path() != path).cloned().collect::<Vec<_>>());
    let file = |path: &str| RawEntry::File { path: path.into(), bytes: b"x".to_vec() };
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("parent path", with(file("../outside.txt")), "package_path_escapes", "`../outside.txt` escapes"),
        ("nested parent", with(file("ui/../../x")), "package_path_escapes", "ui/../../x"),
        ("absolute path", with(file("/etc/cron.d/evil")), "package_path_escapes", "/etc/cron.d/evil"),
        ("backslash", with(file("..\\evil")), "package_path_escapes", "evil"),
        (
            "symlink",
            with(RawEntry::Symlink { path: "docs/link.md".into(), target: "/etc/shadow".into() }),
            "package_link",
            "`docs/link.md` is a link (to `/etc/shadow`)",
        ),
        (
            "hard link",
            with(RawEntry::HardLink { path: "docs/hard.md".into(), target: "plugin.toml".into() }),
            "package_link",
            "docs/hard.md",
        ),
        ("fifo", with(RawEntry::Fifo { path: "ui/pipe".into() }), "package_invalid", "not a regular file"),
        ("duplicate", with(file("README.md")), "package_invalid", "holds `README.md` twice"),
        ("no manifest", without("plugin.toml"), "package_invalid", "no `plugin.toml`"),
        ("no component", without("plugin.wasm"), "package_invalid", "component `plugin.wasm`"),
        ("no ui entry", without("ui/index.html"), "package_invalid", "ui entry `ui/index.html`"),
        ("not gzip", b"PK\x03\x04 a zip file".to_vec(), "package_invalid", "not gzip"),
        (
            "bad manifest",
            raw_archive(&[
                RawEntry::File { path: "plugin.toml".into(), bytes: b"id = \"Bad Id\"".to_vec() },
                file("plugin.wasm"),
            ]),
            "package_invalid_manifest",
            "plugin.toml: missing field `name`",
        ),
    ];
    for (name, bytes, code, message) in cases {
        let error = read(&bytes).unwrap_err();
        assert_eq!(error.code(), code, "{name}: {error}");
        assert!(error.to_string().contains(message), "{name}: `{error}` should contain `{message}`");
    }
}

#[test]
fn size_limits_hold_for_the_archive_the_content_and_the_file_count() {
    let good = entries_of(&packed());
    let bytes = raw_archive(&good);
    let limits = Limits { max_archive_bytes: bytes.len() as u64 - 1, ..Limits::default() };
    let error = Package::read(&bytes, &limits).unwrap_err();
    assert_eq!(error.code(), "package_too_large");
    assert!(error.to_string().contains("the archive"), "{error}");

    // A small archive that unpacks big (zeros compress well) stops at the limit.
    let mut bomb = good.clone();
    bomb.push(RawEntry::File { path: "docs/zeros.md".into(), bytes: vec![0; 8 << 20] });
    let bomb = raw_archive(&bomb);
    assert!(bomb.len() < 64 << 10, "the bomb is small: {} bytes", bomb.len());
    let limits = Limits { max_unpacked_bytes: 1 << 20, ..Limits::default() };
    let error = Package::read(&bomb, &limits).unwrap_err();
    assert_eq!(error.code(), "package_too_large");
    assert!(error.to_string().contains("unpacked content"), "{error}");

    let limits = Limits { max_files: 3, ..Limits::default() };
    let error = Package::read(&bytes, &limits).unwrap_err();
    assert!(error.to_string().contains("number of files"), "{error}");
}

#[test]
fn a_zipped_folder_with_one_top_folder_reads_like_a_package() {
    let entries: Vec<RawEntry> = entries_of(&packed())
        .into_iter()
        .map(|entry| match entry {
            RawEntry::File { path, bytes } => RawEntry::File { path: format!("./hello/{path}"), bytes },
            other => other,
        })
        .collect();
    let package = read(&raw_archive(&entries)).unwrap();
    assert_eq!(package.manifest().id.as_str(), "hello");
    assert!(paths(&package).contains(&"ui/index.html"));
}

#[test]
fn extracting_writes_the_files_and_the_signature() {
    let mut package = packed();
    package.sign(&SigningKey::generate(None).unwrap());
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("hello");
    package.extract(&target).unwrap();
    assert_eq!(std::fs::read_to_string(target.join("ui/img/logo.svg")).unwrap(), "<svg/>");
    assert!(target.join(SIGNATURE_FILE).is_file());
    let error = package.extract(&target).unwrap_err();
    assert!(error.to_string().contains("cannot create the plugin folder"), "{error}");
}

#[test]
fn key_files_round_trip_and_the_secret_is_private() {
    let root = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(Some("Release key".into())).unwrap();
    let (secret, public) = key.write_pair(&root.path().join("release")).unwrap();
    assert_eq!(secret.file_name().unwrap(), "release.key");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    let read_public = PublicKey::read(&public).unwrap();
    assert_eq!(read_public, key.public());
    assert_eq!(read_public.name(), Some("Release key"));
    assert_eq!(SigningKey::read(&secret).unwrap().public(), key.public());
    assert!(!format!("{key:?}").contains(&std::fs::read_to_string(&secret).unwrap()[25..40]));

    let error = key.write_pair(&root.path().join("release")).unwrap_err();
    assert!(error.to_string().contains("exists already"), "{error}");
    let error = SigningKey::read(&public).unwrap_err();
    assert!(error.to_string().contains("this is a public key"), "{error}");
    let error = PublicKey::read(&secret).unwrap_err();
    assert!(error.to_string().contains("this is a secret key"), "{error}");
    std::fs::write(root.path().join("short.pub"), "plugboard-ed25519 AAAA name").unwrap();
    let error = PublicKey::read(&root.path().join("short.pub")).unwrap_err();
    assert!(error.to_string().contains("32 bytes"), "{error}");
}

#[test]
fn the_trust_store_reads_a_folder_and_saves_keys_into_it() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("trusted-keys");
    let mut store = TrustStore::from_folder(&folder).unwrap();
    assert!(store.keys().is_empty(), "a missing folder is an empty store");
    let key = SigningKey::generate(Some("Team".into())).unwrap();
    let path = store.trust(key.public()).unwrap();
    assert_eq!(path, folder.join(format!("{}.pub", key.public().fingerprint())));
    let again = TrustStore::from_folder(&folder).unwrap();
    assert_eq!(again.keys(), [key.public()]);
    std::fs::write(folder.join("junk.pub"), "hello").unwrap();
    let error = TrustStore::from_folder(&folder).unwrap_err();
    assert!(error.to_string().contains("junk.pub"), "{error}");
}

#[test]
fn a_trust_store_reloads_what_another_process_trusted_or_removed() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("trusted-keys");
    let running = TrustStore::from_folder(&folder).unwrap();
    let team = SigningKey::generate(Some("Team".into())).unwrap();
    let other = SigningKey::generate(None).unwrap();
    // Another process (`plugboard plugin trust`) adds keys; one under a name of its own.
    TrustStore::from_folder(&folder).unwrap().trust(team.public()).unwrap();
    std::fs::write(folder.join("other.pub"), other.public().to_file_text()).unwrap();
    assert!(running.keys().is_empty());
    let mut reloaded = running.reload().unwrap();
    assert_eq!(reloaded.keys().len(), 2);

    assert!(reloaded.untrust(&other.public().fingerprint()).unwrap());
    assert!(!folder.join("other.pub").exists(), "the file holding the key is removed");
    assert_eq!(running.reload().unwrap().keys(), [team.public()]);
    assert!(!reloaded.untrust(&other.public().fingerprint()).unwrap(), "not trusted any more");
    // A store without a folder stays as it is.
    let mut loose = TrustStore::new();
    loose.add(team.public());
    assert_eq!(loose.reload().unwrap().keys(), [team.public()]);
}

#[test]
fn an_index_lists_packages_with_checksums_and_finds_the_newest() {
    let root = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(Some("Team".into())).unwrap();
    let folder = plugin_folder(root.path());
    let mut versions = Vec::new();
    for version in ["1.2.0", "1.10.0"] {
        std::fs::write(folder.join("plugin.toml"), MANIFEST.replace("1.2.0", version)).unwrap();
        let mut package = Package::pack(&folder).unwrap();
        package.sign(&key);
        let bytes = package.to_bytes().unwrap();
        std::fs::write(root.path().join(package.file_name()), &bytes).unwrap();
        versions.push(bytes);
    }
    let index = Index::build(root.path(), "Team plugins").unwrap();
    let text = serde_json::to_vec_pretty(&index).unwrap();
    let index = Index::parse(&text, "index.json").unwrap();
    assert_eq!(index.plugins.len(), 2);
    let newest = index.find("hello", None).unwrap();
    assert_eq!(newest.version.to_string(), "1.10.0");
    assert_eq!(newest.url, "hello-1.10.0.plugboard");
    assert_eq!(newest.sha256, sha256_hex(&versions[1]));
    assert_eq!(newest.permissions, ["kv"]);
    assert_eq!(newest.signer.as_ref().unwrap().fingerprint, key.public().fingerprint());
    assert_eq!(index.latest().len(), 1);
    newest.check(&versions[1]).unwrap();
    let error = newest.check(&versions[0]).unwrap_err();
    assert_eq!(error.code(), "package_checksum_mismatch");
    assert_eq!(index.find("hello", Some(&"1.2.0".parse().unwrap())).unwrap().url, "hello-1.2.0.plugboard");

    let error = Index::parse(br#"{"format": "other", "plugins": []}"#, "https://example.org/index.json").unwrap_err();
    assert!(error.to_string().contains("https://example.org/index.json"), "{error}");
    let error = Index::parse(
        br#"{"format": "plugboard-index-v1", "plugins": [{"id": "xy", "name": "X", "version": "1.0.0", "url": "x", "sha256": "abc", "size": 1}]}"#,
        "index.json",
    )
    .unwrap_err();
    assert!(error.to_string().contains("64 hex digits"), "{error}");
}
