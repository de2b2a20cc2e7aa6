//! The plugins tests and benchmarks load, as installed-style folders: the adversarial
//! fixtures of `plugins/testing/` (a loop, a trap, a panic, unbounded memory, a probe of
//! every host service...), built for `wasm32-wasip2` by this crate's build script, and the
//! bundled plugins of `plugboard-plugins`. Only tests and benchmarks depend on this crate.

use std::path::PathBuf;

pub use plugboard_plugins::{BUNDLED, BundledPlugin};

/// Where the test fixtures are assembled as folders, and their names.
pub mod fixtures {
    include!(concat!(env!("OUT_DIR"), "/paths.rs"));
}

/// The assembled folder of plugin `name` (bundled or test fixture).
///
/// # Panics
/// When no plugin of that name was built: a typo in a test.
pub fn plugin_dir(name: &str) -> PathBuf {
    [plugboard_plugins::assembled::PLUGINS_DIR, fixtures::PLUGINS_DIR]
        .iter()
        .map(|root| PathBuf::from(root).join(name))
        .find(|dir| dir.join("plugin.toml").is_file())
        .unwrap_or_else(|| {
            panic!(
                "no plugin `{name}` was built; bundled: {:?}, fixtures: {:?}",
                plugboard_plugins::assembled::NAMES,
                fixtures::NAMES
            )
        })
}

/// Copies a plugin folder (sub-folders such as `ui/` included) to `to`, creating it: how
/// tests and benchmarks make plugin directories of their own from the built plugins.
pub fn copy_plugin_folder(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_plugin_folder(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// `component` with a core module appended that nothing instantiates: `functions` functions
/// of a few hundred arithmetic instructions each. The component behaves as before, but it
/// is larger, so its first compile takes longer (wasmtime compiles every core module of a
/// component), and its SHA-256 differs, so the compiled cache misses: for tests that must
/// see a compile under way, with a component that is merely large, as Python and
/// JavaScript ones are.
pub fn with_unused_code(component: &[u8], functions: u32) -> Vec<u8> {
    const STEPS: i32 = 256;
    let mut body = vec![0x00, 0x20, 0x00]; // no locals; local.get 0
    for step in 1..=STEPS {
        // acc = rotl(acc ^ arg, step) + step * 7919: nothing for the compiler to fold.
        body.extend([0x20, 0x00, 0x73, 0x41]);
        push_signed(&mut body, step);
        body.push(0x77);
        body.push(0x41);
        push_signed(&mut body, step * 7919);
        body.push(0x6a);
    }
    body.push(0x0b); // end
    let mut code = Vec::new();
    push_unsigned(&mut code, functions);
    for _ in 0..functions {
        push_unsigned(&mut code, u32::try_from(body.len()).unwrap_or(u32::MAX));
        code.extend(&body);
    }
    let mut declarations = Vec::new();
    push_unsigned(&mut declarations, functions);
    declarations.extend(std::iter::repeat_n(0x00, functions as usize));
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    // One type, (i32) -> i32.
    push_section(&mut module, 1, &[0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f]);
    push_section(&mut module, 3, &declarations);
    push_section(&mut module, 10, &code);
    let mut larger = component.to_vec();
    // A component's core module section.
    push_section(&mut larger, 1, &module);
    larger
}

fn push_section(out: &mut Vec<u8>, id: u8, contents: &[u8]) {
    out.push(id);
    push_unsigned(out, u32::try_from(contents.len()).unwrap_or(u32::MAX));
    out.extend(contents);
}

fn push_unsigned(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn push_signed(out: &mut Vec<u8>, mut value: i32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The files in a compiled cache folder with their inodes, sorted by name. A compile
/// writes a new file and renames it over the name, so unchanged inodes mean nothing was
/// compiled again: the file was only mapped.
///
/// # Panics
/// When the folder or one of its files cannot be read.
#[cfg(unix)]
pub fn compiled_files(cache: &std::path::Path) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let mut files: Vec<(String, u64)> = std::fs::read_dir(cache)
        .unwrap_or_else(|error| panic!("{}: {error}", cache.display()))
        .map(|entry| {
            let entry = entry.unwrap_or_else(|error| panic!("{}: {error}", cache.display()));
            let metadata = entry.metadata().unwrap_or_else(|error| panic!("{}: {error}", entry.path().display()));
            (entry.file_name().to_string_lossy().into_owned(), metadata.ino())
        })
        .collect();
    files.sort();
    files
}
