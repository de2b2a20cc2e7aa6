//! The names the model sees for MCP tools: `mcp_<server>__<tool>`, only characters every
//! provider accepts in a function name, and at most [`MAX_OFFERED_NAME_LEN`] long (OpenAI's
//! limit), a longer one cut and given a short hash of the whole name so it stays unique.

use sha2::{Digest, Sha256};

/// The longest name a model is offered a tool under (OpenAI's limit for function names).
pub const MAX_OFFERED_NAME_LEN: usize = 64;

/// How many hex digits of the hash a cut name ends with.
const HASH_DIGITS: usize = 8;

/// The name the model sees for `tool` of `server`.
pub fn offered_name(server: &str, tool: &str) -> String {
    let full = format!("mcp_{}__{}", server.replace('-', "_"), tool);
    let clean = clean(&full);
    if clean.len() <= MAX_OFFERED_NAME_LEN { clean } else { cut_with_hash(&clean, &full) }
}

/// The name for `tool` of `server` when [`offered_name`] gave one another tool of the
/// server already has (two names that differ only in characters replaced by `_`): always
/// cut and hashed, so it differs.
pub(crate) fn distinct_offered_name(server: &str, tool: &str) -> String {
    let full = format!("mcp_{}__{}", server.replace('-', "_"), tool);
    cut_with_hash(&clean(&full), &full)
}

/// `name` with every character outside `[A-Za-z0-9_-]` replaced by `_`.
fn clean(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// `clean` cut so that `_` and the hash of `full` fit in [`MAX_OFFERED_NAME_LEN`].
fn cut_with_hash(clean: &str, full: &str) -> String {
    let digest = Sha256::digest(full.as_bytes());
    let hash: String = digest.iter().map(|byte| format!("{byte:02x}")).collect::<String>();
    let keep = MAX_OFFERED_NAME_LEN - 1 - HASH_DIGITS;
    // `clean` is ASCII, so every byte index is a character boundary.
    let head = &clean[..clean.len().min(keep)];
    format!("{head}_{}", &hash[..HASH_DIGITS])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_prefixed_with_dashes_as_underscores() {
        assert_eq!(offered_name("files-2", "read_file"), "mcp_files_2__read_file");
        assert_eq!(offered_name("everything", "get-sum"), "mcp_everything__get-sum");
    }

    #[test]
    fn characters_providers_refuse_become_underscores() {
        assert_eq!(offered_name("web", "search.v2 (beta)"), "mcp_web__search_v2__beta_");
        assert_eq!(offered_name("web", "grüße"), "mcp_web__gr__e");
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_stay_distinct() {
        let tool_a = format!("{}_alpha", "x".repeat(70));
        let tool_b = format!("{}_beta", "x".repeat(70));
        let a = offered_name("server", &tool_a);
        let b = offered_name("server", &tool_b);
        assert_eq!(a.len(), MAX_OFFERED_NAME_LEN);
        assert_eq!(b.len(), MAX_OFFERED_NAME_LEN);
        assert_ne!(a, b);
        assert!(a.starts_with("mcp_server__xxx"), "{a}");
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{a}");
        // The same name gives the same result every time.
        assert_eq!(a, offered_name("server", &tool_a));
    }

    #[test]
    fn a_name_of_exactly_the_limit_is_kept() {
        let tool = "t".repeat(MAX_OFFERED_NAME_LEN - "mcp_s__".len());
        assert_eq!(offered_name("s", &tool), format!("mcp_s__{tool}"));
    }

    #[test]
    fn distinct_names_differ_from_the_plain_one() {
        let plain = offered_name("web", "a.b");
        let other = distinct_offered_name("web", "a_b");
        assert_eq!(plain, "mcp_web__a_b");
        assert_ne!(plain, other);
        assert!(other.len() <= MAX_OFFERED_NAME_LEN);
    }
}
