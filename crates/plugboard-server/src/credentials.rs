//! The rules for usernames and passwords.
//!
//! A username is normalised before it is checked, stored or looked up: surrounding spaces
//! trimmed, then Unicode NFKC (so full-width `ａｌｉｃｅ` or the ligature `ﬁ` become the
//! plain letters they stand for); the store then compares names regardless of case. A new
//! name whose Unicode TR39 skeleton (as typed or in lower case) is that of an existing name
//! is refused as a look-alike (`аlice` with a Cyrillic `а`, `rnike` for `mike`). A
//! password has at least 8 characters, is not all whitespace, and is not one of the most
//! common passwords (the embedded list `common_passwords.txt`, matched regardless of case).

use std::collections::HashSet;
use std::sync::OnceLock;

use axum::http::StatusCode;
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

/// The UTS #39 skeletons of `name` as typed and in lower case: two names that share one
/// look alike (`rn` and `m`, Latin `a` and Cyrillic `а`, `I` and `l`).
fn skeletons(name: &str) -> [String; 2] {
    let lower: String = name.chars().flat_map(char::to_lowercase).collect();
    [unicode_security::skeleton(name).collect(), unicode_security::skeleton(&lower).collect()]
}

/// `username_taken` when `name` (normalised) is one of `existing` regardless of case,
/// `username_confusable` when it looks like one of them.
pub(crate) fn check_name_is_free(name: &str, existing: &[String]) -> Result<(), ApiError> {
    let folded = |text: &str| -> String { text.chars().flat_map(char::to_lowercase).collect() };
    if existing.iter().any(|other| folded(other) == folded(name)) {
        return Err(username_taken());
    }
    let mine = skeletons(name);
    if let Some(other) = existing.iter().find(|other| skeletons(other).iter().any(|theirs| mine.contains(theirs))) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "username_confusable",
            format!("this username looks like the existing name `{other}`; choose one that cannot be mistaken for it"),
        ));
    }
    Ok(())
}

/// 409 `username_taken`.
pub(crate) fn username_taken() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "username_taken", "this username is taken; choose another")
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

    #[test]
    fn look_alikes_of_existing_names_are_refused() {
        let existing = ["alice".to_owned(), "mike".to_owned(), "Paypal".to_owned()];
        let code = |name: &str| check_name_is_free(name, &existing).err().map(|error| error.code);
        assert_eq!(code("ALICE"), Some("username_taken"));
        // Cyrillic `а`, capital `I` for `l`, `rn` for `m`, Cyrillic `р`, `а`, `у`.
        for look_alike in ["\u{430}lice", "aIice", "rnike", "\u{440}\u{430}\u{443}pal"] {
            assert_eq!(code(look_alike), Some("username_confusable"), "{look_alike}");
        }
        for different in ["alicia", "bob", "mikey", "paypal2"] {
            assert_eq!(code(different), None, "{different}");
        }
        let message = check_name_is_free("rnike", &existing).unwrap_err().message;
        assert!(message.contains("`mike`"), "{message}");
    }
}
