//! What the benchmarks that measure in processes of their own share: this process's memory
//! from `/proc/self/smaps_rollup`, running this binary again as a child that prints
//! `RESULT name value` lines, and medians.

#![allow(dead_code, reason = "each benchmark uses a part")]

use std::collections::BTreeMap;
use std::process::Command;

/// Resident memory of this process, in KiB: `Rss`, `Pss`, `Private_Clean`, `Private_Dirty`
/// from `/proc/self/smaps_rollup`, and `Private`, their sum.
pub(crate) fn memory() -> BTreeMap<&'static str, f64> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap();
    let mut found = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(value)) = (words.next(), words.next()) else { continue };
        for wanted in ["Rss", "Pss", "Private_Clean", "Private_Dirty"] {
            if name.strip_suffix(':') == Some(wanted) {
                found.insert(wanted, value.parse().unwrap());
            }
        }
    }
    let private = found["Private_Clean"] + found["Private_Dirty"];
    found.insert("Private", private);
    found
}

/// `after − before`, field by field.
pub(crate) fn difference(
    after: &BTreeMap<&'static str, f64>,
    before: &BTreeMap<&'static str, f64>,
) -> BTreeMap<&'static str, f64> {
    after.iter().map(|(name, value)| (*name, value - before[name])).collect()
}

/// Prints a measurement for [`child_results`] to collect.
pub(crate) fn result(name: &str, value: f64) {
    println!("RESULT {name} {value}");
}

/// Runs this benchmark binary again with `args` and returns the measurements it printed
/// with [`result`]; panics with its error output when it fails.
pub(crate) fn child_results(args: &[&str]) -> Vec<(String, f64)> {
    let output = Command::new(std::env::current_exe().unwrap()).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("RESULT "))
        .map(|result| {
            let (metric, value) = result.split_once(' ').unwrap();
            (metric.to_owned(), value.parse().unwrap())
        })
        .collect()
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) { (values[middle - 1] + values[middle]) / 2.0 } else { values[middle] }
}

/// Memory of `copies` idle plugins, each made by `load(n)` (which loads copy `n` and
/// serves a call, leaving one warm instance) and kept: prints `first_plugin_<field>_KiB`,
/// what the first one added, and `each_further_plugin_<field>_KiB`, (after the last −
/// after the first) / (copies − 1). Returns the plugins, still loaded.
pub(crate) async fn memory_per_copy<P, F, Fut>(copies: usize, mut load: F) -> Vec<P>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = P>,
{
    let before = memory();
    let mut plugins = Vec::new();
    let mut after_first = BTreeMap::new();
    for n in 0..copies {
        plugins.push(load(n).await);
        if n == 0 {
            after_first = memory();
        }
    }
    let after_all = memory();
    for (name, value) in difference(&after_first, &before) {
        result(&format!("first_plugin_{name}_KiB"), value);
    }
    let further = u32::try_from(copies - 1).unwrap();
    for (name, value) in difference(&after_all, &after_first) {
        result(&format!("each_further_plugin_{name}_KiB"), value / f64::from(further));
    }
    plugins
}
