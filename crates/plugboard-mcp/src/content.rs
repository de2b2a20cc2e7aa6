//! A tool result as text for the model: text parts joined, images, audio and binary
//! resources noted (the model gets no bytes it cannot read), embedded text resources given
//! with their URI, resource links noted, `structuredContent` as JSON when no part is text;
//! and the cap on how much of it the model gets.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// The result's text for the model, and whether the server marked it an error.
pub fn result_text(result: &CallToolResult) -> (String, bool) {
    let mut parts = Vec::with_capacity(result.content.len());
    let mut has_text = false;
    for block in &result.content {
        match block {
            ContentBlock::Text(text) => {
                has_text = true;
                parts.push(text.text.clone());
            }
            ContentBlock::Image(image) => parts.push(format!(
                "[image {}, {}: not shown to the model]",
                image.mime_type,
                human_size(base64_len(&image.data))
            )),
            ContentBlock::Audio(audio) => parts.push(format!(
                "[audio {}, {}: not shown to the model]",
                audio.mime_type,
                human_size(base64_len(&audio.data))
            )),
            ContentBlock::Resource(embedded) => match &embedded.resource {
                ResourceContents::TextResourceContents { uri, text, .. } => {
                    has_text = true;
                    parts.push(format!("[resource {uri}]\n{text}"));
                }
                ResourceContents::BlobResourceContents { uri, mime_type, blob, .. } => parts.push(format!(
                    "[resource {uri}, {}, {}: not shown to the model]",
                    mime_type.as_deref().unwrap_or("binary"),
                    human_size(base64_len(blob))
                )),
                _ => parts.push("[a resource of a kind Plugboard does not know: not shown to the model]".to_owned()),
            },
            ContentBlock::ResourceLink(link) => {
                let mut note = format!("[resource link {}", link.uri);
                if link.name != link.uri && !link.name.is_empty() {
                    note.push_str(&format!(" ({})", link.name));
                }
                if let Some(description) = link.description.as_deref().filter(|text| !text.is_empty()) {
                    note.push_str(&format!(": {description}"));
                }
                note.push(']');
                parts.push(note);
            }
            _ => parts.push("[content of a kind Plugboard does not know: not shown to the model]".to_owned()),
        }
    }
    if !has_text && let Some(structured) = &result.structured_content {
        parts.insert(0, structured.to_string());
    }
    let text = if parts.is_empty() { "(the tool returned no content)".to_owned() } else { parts.join("\n") };
    (text, result.is_error == Some(true))
}

/// `text` cut to at most `max_bytes` (at a character boundary), with a note saying so.
pub fn cap_text(text: String, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text;
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n[result cut at {cut} bytes of {}]", &text[..cut], text.len())
}

/// How many bytes base64 `data` decodes to.
fn base64_len(data: &str) -> usize {
    let data = data.trim_end();
    let padding = data.bytes().rev().take_while(|&byte| byte == b'=').count();
    (data.len() / 4 * 3 + (data.len() % 4).saturating_sub(1)).saturating_sub(padding)
}

/// `bytes` as people read a size: `512 B`, `1.2 KiB`, `3.4 MiB`.
fn human_size(bytes: usize) -> String {
    const KIB: f64 = 1024.0;
    #[expect(clippy::cast_precision_loss, reason = "a size shown with one decimal")]
    let size = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if size < KIB * KIB {
        format!("{:.1} KiB", size / KIB)
    } else {
        format!("{:.1} MiB", size / KIB / KIB)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn result(value: serde_json::Value) -> CallToolResult {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn text_parts_are_joined() {
        let (text, error) =
            result_text(&result(json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})));
        assert_eq!(text, "a\nb");
        assert!(!error);
    }

    #[test]
    fn images_and_audio_are_noted_with_type_and_size() {
        // 1,260 bytes of data, 1,680 characters of base64.
        let data = "A".repeat(1680);
        let (text, _) = result_text(&result(json!({"content": [
            {"type": "text", "text": "here"},
            {"type": "image", "data": data, "mimeType": "image/png"},
            {"type": "audio", "data": "AAAA", "mimeType": "audio/wav"},
        ]})));
        assert_eq!(
            text,
            "here\n[image image/png, 1.2 KiB: not shown to the model]\n[audio audio/wav, 3 B: not shown to the model]"
        );
    }

    #[test]
    fn embedded_resources_and_links() {
        let (text, _) = result_text(&result(json!({"content": [
            {"type": "resource", "resource": {"uri": "file:///a.txt", "mimeType": "text/plain", "text": "hello"}},
            {"type": "resource", "resource": {"uri": "file:///b.bin", "mimeType": "application/gzip", "blob": "AAAA"}},
            {"type": "resource_link", "uri": "file:///c.md", "name": "c.md", "description": "the notes"},
        ]})));
        assert_eq!(
            text,
            "[resource file:///a.txt]\nhello\n[resource file:///b.bin, application/gzip, 3 B: not shown to the model]\n\
             [resource link file:///c.md (c.md): the notes]"
        );
    }

    #[test]
    fn structured_content_is_used_when_no_part_is_text() {
        let (text, _) = result_text(&result(json!({"content": [], "structuredContent": {"sum": 3}})));
        assert_eq!(text, r#"{"sum":3}"#);
        let (text, _) = result_text(&result(json!({
            "content": [{"type": "text", "text": "3"}], "structuredContent": {"sum": 3}
        })));
        assert_eq!(text, "3");
        let (text, _) = result_text(&result(json!({"content": []})));
        assert_eq!(text, "(the tool returned no content)");
    }

    #[test]
    fn is_error_is_reported() {
        let (text, error) =
            result_text(&result(json!({"content": [{"type": "text", "text": "no such file"}], "isError": true})));
        assert_eq!(text, "no such file");
        assert!(error);
    }

    #[test]
    fn the_cap_cuts_at_a_character_boundary_with_a_note() {
        assert_eq!(cap_text("short".to_owned(), 256), "short");
        // "é" is two bytes: a cut at 3 bytes falls inside the second one.
        assert_eq!(cap_text("éééé".to_owned(), 3), "é\n[result cut at 2 bytes of 8]");
        assert_eq!(cap_text("abcdef".to_owned(), 4), "abcd\n[result cut at 4 bytes of 6]");
    }

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1229), "1.2 KiB");
        assert_eq!(human_size(3 * 1024 * 1024 + 400 * 1024), "3.4 MiB");
        assert_eq!(base64_len("AAAA"), 3);
        assert_eq!(base64_len("AAA="), 2);
        assert_eq!(base64_len("AA=="), 1);
    }
}
