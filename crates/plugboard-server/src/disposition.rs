//! File names in headers: what an upload's name is stored as, and the `Content-Disposition`
//! a download is sent with (RFC 6266), which any stored name fits.

use axum::http::HeaderValue;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What RFC 5987's `attr-char` leaves unencoded: letters, digits and `!#$&+-.^_`|~`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// An uploaded file's name as stored: each control character (a line break, a tab, a NUL,
/// …) becomes `_`, and the name is trimmed.
pub(crate) fn sanitize_file_name(name: &str) -> String {
    name.chars().map(|c| if c.is_control() { '_' } else { c }).collect::<String>().trim().to_owned()
}

/// `attachment` with the file's name: a quoted ASCII fallback (each other character, a quote
/// or a backslash as `_`) for old clients, and the exact name as `filename*=UTF-8''…`.
pub(crate) fn content_disposition(name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' { c } else { '_' })
        .collect();
    let exact = utf8_percent_encode(name, ATTR_CHAR);
    let value = format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}");
    // Only visible ASCII and spaces are left, which a header value always takes.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_name_makes_a_valid_header_that_keeps_it_exactly() {
        let cases = [
            ("notes.txt", "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"),
            (
                "a\"b\\c\r\nd\u{7}.txt",
                "attachment; filename=\"a_b_c__d_.txt\"; filename*=UTF-8''a%22b%5Cc%0D%0Ad%07.txt",
            ),
            ("café menu.pdf", "attachment; filename=\"caf_ menu.pdf\"; filename*=UTF-8''caf%C3%A9%20menu.pdf"),
        ];
        for (name, expected) in cases {
            assert_eq!(content_disposition(name).to_str().unwrap(), expected, "{name:?}");
        }
    }

    #[test]
    fn control_characters_leave_an_uploaded_name() {
        assert_eq!(sanitize_file_name(" report\n2026\u{0}.txt\t"), "report_2026_.txt_");
        assert_eq!(sanitize_file_name("plain name.txt"), "plain name.txt");
    }
}
