//! PII redactor: a before-prompt filter that masks e-mail addresses, phone numbers and
//! operator-defined patterns, so they never reach the model.

use plugboard_sdk::{CallContext, FilterOutcome, Plugin, SelfTestResult, Settings, export_plugin};
use regex::{Captures, Regex};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    mask_emails: bool,
    mask_phones: bool,
    email_replacement: String,
    phone_replacement: String,
    patterns: Vec<CustomPattern>,
}

#[derive(Deserialize)]
struct CustomPattern {
    pattern: String,
    #[serde(default = "default_replacement")]
    replacement: String,
}

fn default_replacement() -> String {
    "[redacted]".to_owned()
}

struct Rule {
    regex: Regex,
    replacement: String,
    /// For phone numbers: only mask matches with this many digits.
    digits: Option<std::ops::RangeInclusive<usize>>,
}

struct Redactor {
    rules: Vec<Rule>,
}

const EMAIL: &str = r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b";
// A plausible phone number: optional +country code, optional (area), then groups of digits
// separated by single spaces, dots or dashes. Digit counts are checked after matching.
const PHONE: &str = r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,5}";

impl Redactor {
    fn new(config: Config) -> Result<Redactor, String> {
        let mut rules = Vec::new();
        let compile = |pattern: &str, field: String| {
            Regex::new(pattern)
                .map_err(|error| format!("setting `{field}`: `{pattern}` is not a valid regular expression: {error}"))
        };
        if config.mask_emails {
            rules.push(Rule {
                regex: compile(EMAIL, "email".into())?,
                replacement: config.email_replacement,
                digits: None,
            });
        }
        if config.mask_phones {
            rules.push(Rule {
                regex: compile(PHONE, "phone".into())?,
                replacement: config.phone_replacement,
                digits: Some(7..=15),
            });
        }
        for (index, custom) in config.patterns.into_iter().enumerate() {
            let regex = compile(&custom.pattern, format!("patterns[{index}].pattern"))?;
            rules.push(Rule { regex, replacement: custom.replacement, digits: None });
        }
        Ok(Redactor { rules })
    }

    fn redact(&self, text: &str) -> Option<String> {
        let mut current = std::borrow::Cow::Borrowed(text);
        for rule in &self.rules {
            let replaced = rule.regex.replace_all(&current, |captures: &Captures| {
                let matched = &captures[0];
                let digits = matched.bytes().filter(u8::is_ascii_digit).count();
                let international = matched.starts_with('+') || matched.contains('(');
                let accepted = match &rule.digits {
                    None => true,
                    // Without a country code or area code in parentheses, 8 digits or fewer
                    // are more often dates and amounts than phone numbers.
                    Some(range) => range.contains(&digits) && (international || digits >= 9),
                };
                if accepted { rule.replacement.clone() } else { matched.to_owned() }
            });
            if let std::borrow::Cow::Owned(replaced) = replaced {
                current = std::borrow::Cow::Owned(replaced);
            }
        }
        match current {
            std::borrow::Cow::Owned(changed) if changed != text => Some(changed),
            _ => None,
        }
    }
}

impl Plugin for Redactor {
    fn init(settings: Settings) -> Result<Self, String> {
        Redactor::new(settings.parse_as()?)
    }

    fn before_prompt(&mut self, _context: &CallContext, prompt: String) -> FilterOutcome {
        match self.redact(&prompt) {
            Some(redacted) => FilterOutcome::Rewrite(redacted),
            None => FilterOutcome::Keep,
        }
    }

    fn self_test(&mut self) -> Vec<SelfTestResult> {
        let probe = "mail ada@example.com or call +44 20 7946 0958";
        let redacted = self.redact(probe).unwrap_or_else(|| probe.to_owned());
        let passed = !redacted.contains("ada@example.com") && !redacted.contains("7946");
        vec![SelfTestResult::new("masks a sample", passed, redacted)]
    }
}

export_plugin!(Redactor, hooks: [BeforePrompt, SelfTest]);
