//! PII masking: emails, phone numbers, payment card numbers (Luhn-checked),
//! IBANs, IP addresses and admin-configured patterns are replaced by stable
//! placeholders (`<EMAIL_1>`, `<PHONE_1>`, ...) before text leaves the
//! engine. The same value gets the same placeholder within one request, and
//! numbering follows the order of first appearance, so two queries of the
//! same shape mask to the same text (which is what the interpretation cache
//! keys on). The [`Masked`] mapping turns placeholders in a service's reply
//! back into the real values.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, OnceLock};

use regex::Regex;

use crate::config::PiiPattern;

macro_rules! re {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> =
            LazyLock::new(|| Regex::new($pattern).expect("a valid built-in pattern"));
    };
}

re!(EMAIL, r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b");
re!(
    IBAN,
    r"(?i)\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,3})?\b"
);
re!(CARD, r"\b\d(?:[ -]?\d){12,18}\b");
re!(
    IPV4,
    r"\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\b"
);
re!(
    IPV6,
    r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|(?:\b[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6}\b)?"
);
re!(
    PHONE,
    r"(?:\+\s?\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,5}(?:[\s.-]\(?\d{2,5}\)?){1,4}|\+?\b\d{7,15}\b"
);
re!(DATE, r"^\d{4}-\d{2}-\d{2}$");
re!(PLACEHOLDER, r"<[A-Z][A-Z0-9_]*_\d+>");

static LOG_MASKING: AtomicBool = AtomicBool::new(true);
static LOG_MASKER: OnceLock<Masker> = OnceLock::new();

/// Sets up masking of log lines and error messages for the process
/// (`CHATBOT_MASK_PII_IN_LOGS`, on by default, with the admin's patterns;
/// the patterns of the first call stay).
pub fn configure_logs(enabled: bool, extra: &[PiiPattern]) {
    LOG_MASKING.store(enabled, Ordering::Relaxed);
    let _ = LOG_MASKER.set(Masker::new(extra));
}

/// `text` as it may be logged: PII masked unless log masking is off.
pub fn for_logs(text: &str) -> Cow<'_, str> {
    if !LOG_MASKING.load(Ordering::Relaxed) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(LOG_MASKER.get_or_init(Masker::default).redact(text))
}

/// What kind of PII a pattern finds, with a check beyond the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Luhn,
    Iban,
    Phone,
    Ipv6,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    regex: Regex,
    check: Check,
}

/// The masking rules: the built-in ones, then the admin's.
#[derive(Debug, Clone)]
pub struct Masker {
    rules: Vec<Rule>,
}

impl Default for Masker {
    fn default() -> Self {
        Self::new(&[])
    }
}

/// A masked text and the placeholders it uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masked {
    /// The real value of each placeholder.
    pub values: BTreeMap<String, String>,
}

impl Masked {
    /// `text` with every placeholder of this mapping replaced by its value
    /// (a placeholder the mapping does not know stays as it is).
    pub fn unmask(&self, text: &str) -> String {
        if self.values.is_empty() || !text.contains('<') {
            return text.to_owned();
        }
        PLACEHOLDER
            .replace_all(text, |c: &regex::Captures<'_>| {
                let p = &c[0];
                self.values.get(p).cloned().unwrap_or_else(|| p.to_owned())
            })
            .into_owned()
    }

    /// Whether `text` still holds a placeholder no mapping knows.
    pub fn has_unknown_placeholder(&self, text: &str) -> bool {
        PLACEHOLDER
            .find_iter(text)
            .any(|m| !self.values.contains_key(m.as_str()))
    }
}

fn luhn(digits: &[u32]) -> bool {
    let mut sum = 0;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut d = *d;
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

fn iban_ok(candidate: &str) -> bool {
    let s: String = candidate
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    // ISO 13616: move the first four characters to the end, letters to
    // numbers (A = 10), the whole number mod 97 must be 1.
    let rearranged = format!("{}{}", &s[4..], &s[..4]);
    let mut rem: u32 = 0;
    for c in rearranged.chars() {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

impl Masker {
    /// The built-in rules plus `extra` (already validated by the
    /// configuration; an invalid pattern is skipped).
    pub fn new(extra: &[PiiPattern]) -> Self {
        let builtin = [
            ("EMAIL", &*EMAIL, Check::None),
            ("IBAN", &*IBAN, Check::Iban),
            ("CARD", &*CARD, Check::Luhn),
            ("IP", &*IPV4, Check::None),
            ("IP", &*IPV6, Check::Ipv6),
            ("PHONE", &*PHONE, Check::Phone),
        ];
        let mut rules: Vec<Rule> = builtin
            .into_iter()
            .map(|(name, regex, check)| Rule {
                name: name.to_owned(),
                regex: regex.clone(),
                check,
            })
            .collect();
        for p in extra {
            if let Ok(regex) = Regex::new(&p.regex) {
                rules.push(Rule {
                    name: p.name.clone(),
                    regex,
                    check: Check::None,
                });
            }
        }
        Self { rules }
    }

    fn accepts(text: &str, start: usize, end: usize, check: Check) -> bool {
        let m = &text[start..end];
        match check {
            Check::None => true,
            Check::Luhn => {
                let digits: Vec<u32> = m.chars().filter_map(|c| c.to_digit(10)).collect();
                (13..=19).contains(&digits.len()) && luhn(&digits)
            }
            Check::Iban => iban_ok(m),
            Check::Ipv6 => m.chars().filter(|c| *c == ':').count() >= 2 && m.len() >= 3,
            Check::Phone => {
                let digits = m.chars().filter(char::is_ascii_digit).count();
                // Not part of a code such as INV-2025-001 or TCK-1042, and
                // not a date.
                let before = text[..start].chars().next_back();
                let after = text[end..].chars().next();
                // "INV 2025 001" is an invoice number typed with spaces.
                let after_code_word = text[..start]
                    .trim_end()
                    .rsplit(|c: char| !c.is_alphanumeric())
                    .next()
                    .is_some_and(|w| {
                        ["inv", "invoice", "tck", "ticket"]
                            .iter()
                            .any(|code| w.eq_ignore_ascii_case(code))
                    });
                (7..=15).contains(&digits)
                    && !after_code_word
                    && !before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
                    && !DATE.is_match(m.trim())
            }
        }
    }

    /// Masks `texts` together (one mapping, so the same value gets the
    /// same placeholder in each), returning the masked texts and the
    /// mapping.
    pub fn mask_all(&self, texts: &[&str]) -> (Vec<String>, Masked) {
        let mut masked = Masked::default();
        let mut by_value: BTreeMap<(String, String), String> = BTreeMap::new();
        let mut counters: BTreeMap<String, usize> = BTreeMap::new();
        let out = texts
            .iter()
            .map(|t| self.mask_one(t, &mut masked, &mut by_value, &mut counters))
            .collect();
        (out, masked)
    }

    /// Masks one text.
    pub fn mask(&self, text: &str) -> (String, Masked) {
        let (mut texts, masked) = self.mask_all(&[text]);
        (texts.pop().unwrap_or_default(), masked)
    }

    /// The text with PII masked, for a log line or an error message.
    pub fn redact(&self, text: &str) -> String {
        self.mask(text).0
    }

    fn mask_one(
        &self,
        text: &str,
        masked: &mut Masked,
        by_value: &mut BTreeMap<(String, String), String>,
        counters: &mut BTreeMap<String, usize>,
    ) -> String {
        let mut current = text.to_owned();
        for rule in &self.rules {
            let mut out = String::with_capacity(current.len());
            let mut last = 0;
            for m in rule.regex.find_iter(&current) {
                let (start, end) = (m.start(), m.end());
                // Never re-mask a placeholder made by an earlier rule.
                if current[start..end].contains('<')
                    || !Self::accepts(&current, start, end, rule.check)
                {
                    continue;
                }
                let value = current[start..end].to_owned();
                let placeholder = by_value
                    .entry((rule.name.clone(), value.clone()))
                    .or_insert_with(|| {
                        let n = counters.entry(rule.name.clone()).or_insert(0);
                        *n += 1;
                        format!("<{}_{}>", rule.name, n)
                    })
                    .clone();
                masked.values.insert(placeholder.clone(), value);
                out.push_str(&current[last..start]);
                out.push_str(&placeholder);
                last = end;
            }
            if last > 0 {
                out.push_str(&current[last..]);
                current = out;
            }
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(text: &str) -> String {
        Masker::default().mask(text).0
    }

    #[test]
    fn masks_each_kind_and_maps_back() {
        let text = "mail john.smith@example.com or +44 20 7946 0958, card 4111 1111 1111 1111, \
                    iban GB82 WEST 1234 5698 7654 32, ip 192.168.10.7 and 2001:db8::1";
        let (m, map) = Masker::default().mask(text);
        for secret in ["john.smith", "7946", "4111", "GB82", "192.168", "2001:db8"] {
            assert!(!m.contains(secret), "{secret} left in {m}");
        }
        for p in [
            "<EMAIL_1>",
            "<PHONE_1>",
            "<CARD_1>",
            "<IBAN_1>",
            "<IP_1>",
            "<IP_2>",
        ] {
            assert!(m.contains(p), "{p} missing from {m}");
        }
        assert_eq!(map.unmask(&m), text);
    }

    #[test]
    fn leaves_business_codes_alone() {
        for text in [
            "invoice INV-2025-001 for ABC123",
            "invoice INV 2025 001 and inv 2024 0042",
            "ticket TCK-1042",
            "device OLT-NORTH-01",
            "revenue since 2024-01-15",
            "top 10 customers over $1,000",
            "card 4111 1111 1111 1112 fails Luhn",
        ] {
            assert_eq!(mask(text), text);
        }
    }

    #[test]
    fn an_iban_must_pass_its_check() {
        let m = mask("iban GB82 WEST 1234 5698 7654 33 fails its check");
        assert!(!m.contains("<IBAN_"), "{m}");
    }

    #[test]
    fn an_iban_followed_by_words_is_still_found() {
        assert_eq!(
            mask("pay GB82 WEST 1234 5698 7654 32 and more"),
            "pay <IBAN_1> and more"
        );
    }

    #[test]
    fn the_same_value_gets_the_same_placeholder() {
        let (texts, map) =
            Masker::default().mask_all(&["write to a@b.io", "and c@d.io, then a@b.io again"]);
        assert_eq!(texts[0], "write to <EMAIL_1>");
        assert_eq!(texts[1], "and <EMAIL_2>, then <EMAIL_1> again");
        assert_eq!(map.values.len(), 2);
        assert!(map.has_unknown_placeholder("<EMAIL_9>"));
    }

    #[test]
    fn log_lines_are_masked_by_default() {
        assert_eq!(
            for_logs("no customer with email a.b@example.com").as_ref(),
            "no customer with email <EMAIL_1>"
        );
    }

    #[test]
    fn admin_patterns_are_masked() {
        let m = Masker::new(&[PiiPattern {
            name: "EMPLOYEE".into(),
            regex: r"\bEMP-\d{6}\b".into(),
        }]);
        assert_eq!(
            m.redact("ask EMP-123456 now").as_str(),
            "ask <EMPLOYEE_1> now"
        );
    }
}
