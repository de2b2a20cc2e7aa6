//! The one rule for text that reaches the store, the same on every backend: no stored text
//! holds U+0000 (NUL), which PostgreSQL's TEXT cannot keep. Text a person sends that holds
//! one is refused before anything is stored ([`check_text`], 400 `invalid_text`): they can
//! remove it. Text a model or a plugin made has it removed ([`without_nul`]): nobody could
//! fix it, and a turn must not fail for it.

pub use plugboard_store::without_nul;

use crate::error::ChatError;

/// `Ok` when `text`, a person's `field` ("message", "title"), can be stored; else
/// [`ChatError::InvalidText`] naming the field.
///
/// # Errors
/// [`ChatError::InvalidText`] when `text` holds U+0000.
pub fn check_text(field: &'static str, text: &str) -> Result<(), ChatError> {
    if text.contains('\0') { Err(ChatError::InvalidText { field }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::{check_text, without_nul};
    use crate::ChatError;

    #[test]
    fn a_nul_is_refused_in_a_persons_text_and_removed_from_made_text() {
        assert!(check_text("message", "a b\tc\u{1}").is_ok());
        let refused = check_text("title", "x\0y").unwrap_err();
        assert!(matches!(refused, ChatError::InvalidText { field: "title" }));
        assert_eq!(refused.code(), "invalid_text");
        assert!(refused.to_string().contains("title"), "{refused}");
        assert!(refused.to_string().contains("U+0000"), "{refused}");
        assert_eq!(without_nul("\0a\0\0b\0".to_owned()), "ab");
        assert_eq!(without_nul("plain".to_owned()), "plain");
    }
}
