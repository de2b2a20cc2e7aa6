//! A known plugin's `ui/` and `docs/` files, from the binary for a bundled plugin or from
//! its folder, with paths that cannot leave the folder.

use std::path::{Path, PathBuf};

use plugboard_manifest::PluginId;

use super::{Registry, lock};
use crate::discover::Origin;

/// Where a known plugin's `ui/` and `docs/` files come from.
enum KnownOrigin {
    Bundled(&'static [(&'static str, &'static [u8])]),
    Folder(PathBuf),
}

impl Registry {
    /// Where a known plugin was read from (bundled or its folder).
    pub fn origin(&self, id: &PluginId) -> Option<Origin> {
        lock(&self.inner.known).get(id).map(|known| known.candidate.origin.clone())
    }

    /// Where a known plugin's files are: the embedded files of a bundled plugin (found by
    /// the folder name its candidate was read from, no manifest parsed again), or its folder.
    fn known_origin(&self, id: &PluginId) -> Option<KnownOrigin> {
        let (origin, path) = lock(&self.inner.known)
            .get(id)
            .map(|known| (known.candidate.origin.clone(), known.candidate.source.component_path.clone()))?;
        Some(match origin {
            Origin::Folder(folder) => KnownOrigin::Folder(folder),
            Origin::Bundled => {
                let name = path.parent().and_then(Path::file_name).and_then(|name| name.to_str());
                let bundled = self.inner.config.bundled.iter().find(|bundled| Some(bundled.name) == name)?;
                KnownOrigin::Bundled(bundled.files)
            }
        })
    }

    /// A file of a known plugin's folder (its `ui/` or `docs/`), by `/`-separated path:
    /// `None` when there is no such file or the path leaves the folder (`..`, absolute
    /// paths, links pointing outside).
    pub fn plugin_file(&self, id: &PluginId, path: &str) -> Option<Vec<u8>> {
        let origin = self.known_origin(id)?;
        let parts: Vec<&str> = path.split('/').collect();
        if parts.iter().any(|part| part.is_empty() || *part == "." || *part == ".." || part.contains('\\')) {
            return None;
        }
        if !matches!(parts.first(), Some(&"ui") | Some(&"docs")) {
            return None;
        }
        match origin {
            KnownOrigin::Bundled(files) => {
                files.iter().find(|(name, _)| *name == path).map(|(_, bytes)| bytes.to_vec())
            }
            KnownOrigin::Folder(folder) => {
                let root = folder.canonicalize().ok()?;
                let file = root.join(parts.join(std::path::MAIN_SEPARATOR_STR)).canonicalize().ok()?;
                if !file.starts_with(&root) || !file.is_file() {
                    return None;
                }
                std::fs::read(file).ok()
            }
        }
    }

    /// The files under `folder` (`ui` or `docs`) of a known plugin, as `/`-separated paths
    /// inside the plugin folder, sorted.
    pub fn plugin_files(&self, id: &PluginId, folder: &str) -> Vec<String> {
        let Some(origin) = self.known_origin(id) else { return Vec::new() };
        let prefix = format!("{folder}/");
        let mut files: Vec<String> = match origin {
            KnownOrigin::Bundled(files) => {
                files.iter().map(|(name, _)| (*name).to_owned()).filter(|name| name.starts_with(&prefix)).collect()
            }
            KnownOrigin::Folder(root) => {
                let mut found = Vec::new();
                let mut pending = vec![root.join(folder)];
                while let Some(dir) = pending.pop() {
                    let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                    for entry in entries.flatten() {
                        let Ok(kind) = entry.file_type() else { continue };
                        if kind.is_dir() {
                            pending.push(entry.path());
                        } else if kind.is_file()
                            && let Ok(relative) = entry.path().strip_prefix(&root)
                        {
                            let parts: Vec<String> = relative
                                .components()
                                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                                .collect();
                            found.push(parts.join("/"));
                        }
                    }
                }
                found
            }
        };
        files.sort();
        files
    }
}
