//! Text no backend keeps: U+0000 (NUL), which PostgreSQL's TEXT cannot hold, is kept out of
//! both, so they store the same. Callers refuse a person's text holding one and remove it
//! from text a model or a plugin made, with [`without_nul`]; PostgreSQL refusing one anyway
//! is [`StoreError::InvalidInput`](crate::StoreError::InvalidInput).

/// `text` without its U+0000 characters, for text nobody could correct (a model's reply, a
/// plugin's message or error).
pub fn without_nul(text: String) -> String {
    if text.contains('\0') { text.replace('\0', "") } else { text }
}
