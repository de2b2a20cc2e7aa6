//! The rules for usernames and passwords.
//!
//! A username is normalised before it is checked, stored or looked up: surrounding spaces
//! trimmed, then Unicode NFKC (so full-width `ａｌｉｃｅ` or the ligature `ﬁ` become the
//! plain letters they stand for); the store then compares names regardless of case. A
//! password has at least 8 characters, is not all whitespace, and is not one of the most
//! common passwords (the embedded list `common_passwords.txt`, matched regardless of case).

use std::collections::HashSet;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

use crate::error::ApiError;

/// The shortest password accepted.
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;

/// The name as typed, trimmed and in NFKC: the form stored and looked up.
pub(crate) fn normalize_username(raw: &str) -> String {
    raw.trim().nfkc().collect()
}

/// The normalised username, or `invalid_username` saying what a name may hold.
pub(crate) fn check_username(raw: &str) -> Result<String, ApiError> {
    let name = normalize_username(raw);
    let ok = (2..=40).contains(&name.chars().count())
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(ApiError::bad_request(
            "invalid_username",
            "a username has 2 to 40 letters, digits, `-`, `_` or `.`; choose another",
        ));
    }
    Ok(name)
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

/// `weak_password`, saying what is wrong, unless `password` follows the rules.
pub(crate) fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::bad_request(
            "weak_password",
            format!(
                "a password needs at least {MIN_PASSWORD_CHARS} characters; a few unrelated words make a strong one"
            ),
        ));
    }
    if password.trim().is_empty() {
        return Err(ApiError::bad_request(
            "weak_password",
            "a password cannot be only spaces; a few unrelated words make a strong one",
        ));
    }
    let folded: String = password.trim().chars().flat_map(char::to_lowercase).collect();
    if common_passwords().contains(folded.as_str()) {
        return Err(ApiError::bad_request(
            "weak_password",
            "this is one of the most common passwords, which are guessed first; choose another \
             (a few unrelated words make a strong one)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(password: &str) -> Option<String> {
        check_password(password).err().map(|error| {
            assert_eq!(error.code, "weak_password");
            error.message
        })
    }

    #[test]
    fn short_blank_and_common_passwords_are_refused() {
        assert!(refusal("short").unwrap().contains("at least 8 characters"));
        assert!(refusal("seven77").is_some());
        assert!(refusal("          ").unwrap().contains("only spaces"));
        assert!(refusal("\t\n  \u{a0}   ").unwrap().contains("only spaces"));
        for common in ["password", "PASSWORD1", "Qwerty123", "12345678", "iloveyou", "P@ssw0rd", " letmein123 "] {
            assert!(refusal(common).unwrap().contains("most common"), "{common}");
        }
        assert_eq!(refusal("correct horse battery"), None);
        assert_eq!(refusal("eight ch"), None);
    }

    #[test]
    fn the_list_is_a_few_hundred_lower_case_entries() {
        let list = common_passwords();
        assert!((300..=1000).contains(&list.len()), "{}", list.len());
        assert!(list.iter().all(|entry| entry.chars().all(|c| !c.is_uppercase() && !c.is_whitespace())));
    }

    #[test]
    fn usernames_are_trimmed_and_in_nfkc() {
        assert_eq!(check_username("  alice ").unwrap(), "alice");
        assert_eq!(check_username("ａｌｉｃｅ").unwrap(), "alice");
        assert_eq!(check_username("ﬁona").unwrap(), "fiona");
        assert_eq!(check_username("Élodie").unwrap(), "Élodie");
        // Decomposed `E` + combining acute is composed into the one letter.
        assert_eq!(check_username("E\u{301}lodie").unwrap(), "Élodie");
        for bad in ["x", "a b", "bob!", "", &"n".repeat(41)] {
            assert_eq!(check_username(bad).unwrap_err().code, "invalid_username", "{bad}");
        }
    }
}
