//! Markdown export: writes a conversation as a Markdown document.

use plugboard_sdk::{Conversation, ExportFile, ExportFormat, Message, Plugin, Role, Settings, export_plugin};

struct MarkdownExport;

/// `2026-11-22 03:04 UTC` from milliseconds since the epoch (proleptic Gregorian calendar).
fn format_time(ms: u64) -> String {
    let seconds = ms / 1000;
    let days = (seconds / 86_400) as i64;
    let (hour, minute) = ((seconds % 86_400) / 3600, (seconds % 3600) / 60);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

fn author(message: &Message) -> String {
    match message.role {
        Role::User => "User".to_owned(),
        Role::Assistant => match message.author.strip_prefix("plugin:") {
            Some(plugin) => format!("Plugin {plugin}"),
            None => "Assistant".to_owned(),
        },
        Role::System => "System".to_owned(),
        Role::Tool => "Tool".to_owned(),
    }
}

fn file_name(title: &str) -> String {
    let slug: String = title
        .chars()
        .map(|c| if c.is_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(60).collect();
    if slug.is_empty() { "conversation.md".to_owned() } else { format!("{slug}.md") }
}

fn render(conversation: &Conversation, messages: &[Message]) -> String {
    let title = if conversation.title.trim().is_empty() { "Conversation" } else { conversation.title.trim() };
    let mut out =
        format!("# {title}\n\n_Exported from Plugboard. Started {}._\n", format_time(conversation.created_at_ms));
    for message in messages {
        out.push_str(&format!("\n## {} · {}\n\n", author(message), format_time(message.created_at_ms)));
        out.push_str(message.content.trim_end());
        out.push('\n');
    }
    out
}

impl Plugin for MarkdownExport {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(MarkdownExport)
    }

    fn export_formats(&mut self) -> Vec<ExportFormat> {
        vec![ExportFormat {
            id: "markdown".into(),
            display_name: "Markdown".into(),
            media_type: "text/markdown; charset=utf-8".into(),
            extension: "md".into(),
        }]
    }

    fn export(
        &mut self,
        format: &str,
        conversation: Conversation,
        messages: Vec<Message>,
    ) -> Result<ExportFile, String> {
        if format != "markdown" {
            return Err(format!("unknown format `{format}`; this plugin writes `markdown`"));
        }
        Ok(ExportFile {
            file_name: file_name(&conversation.title),
            media_type: "text/markdown; charset=utf-8".into(),
            data: render(&conversation, &messages).into_bytes(),
        })
    }
}

export_plugin!(MarkdownExport, hooks: [Exporter]);

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times_and_names() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::format_time(1_795_000_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(super::file_name("Trip to Paris!"), "trip-to-paris.md");
        assert_eq!(super::file_name("???"), "conversation.md");
    }
}
