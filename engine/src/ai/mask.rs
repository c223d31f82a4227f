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

// Every built-in pattern is ASCII-only: `\d` and `(?i)[a-z]` are
// Unicode-aware in the `regex` crate (Devanagari digits, the Kelvin sign
// `K`, the long `ſ`), and the checks below assume one byte per character.
re!(EMAIL, r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b");
re!(
    IBAN,
    r"\b[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?\b"
);
re!(CARD, r"\b[0-9](?:[ -]?[0-9]){12,18}\b");
re!(
    IPV4,
    r"\b(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\b"
);
re!(
    IPV6,
    r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|(?:\b[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}\b)?"
);
// Digit groups of 1 to 8 (`07946 095812`, `+49 30 12345678`), a leading
// `+cc` part of the match; the 7-15 digit check is in `accepts`.
re!(
    PHONE,
    r"(?:\+[ \t]?[0-9]{1,3}[ \t.-]?)?(?:\([0-9]{1,4}\)[ \t.-]?)?[0-9]{1,8}(?:[ \t.-]\(?[0-9]{1,8}\)?){1,5}|\+?\b[0-9]{7,15}\b"
);
re!(DATE, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$");
re!(PLACEHOLDER, r"<[A-Z][A-Z0-9_]*_[0-9]+>");

// Credentials a service may echo in an error body: `Bearer ...`, OpenAI-
// style keys (`sk-...`, `sk-proj-****abcd`), and `api_key=...`-like pairs.
re!(
    SECRET_LIKE,
    r#"(?i)\bbearer\s+[A-Za-z0-9._~+/=*-]+|\b(?:sk|pk|rk)-[A-Za-z0-9_*.-]{3,}|\b(?:api[_-]?key|access[_-]?token|token|secret|password)(["']?\s*[:=]\s*["']?)[^\s"',}]+"#
);

/// `text` with anything that looks like a credential replaced by
/// `<redacted>` (for error details from a service, which may echo the
/// key it was sent).
pub fn redact_secrets(text: &str) -> String {
    SECRET_LIKE.replace_all(text, "<redacted>").into_owned()
}

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

/// The length of an IBAN by country (ISO 13616), for the countries whose
/// IBANs are most often met; others are checked by mod 97 alone.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AT", 20),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("XK", 20),
];

fn iban_ok(candidate: &str) -> bool {
    let s: String = candidate
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    // The patterns are ASCII-only; this keeps the slicing below safe
    // whatever calls it.
    if !s.is_ascii() || !(15..=34).contains(&s.len()) {
        return false;
    }
    let (Some(head), Some(tail)) = (s.get(..4), s.get(4..)) else {
        return false;
    };
    // ISO 13616: move the first four characters to the end, letters to
    // numbers (A = 10), the whole number mod 97 must be 1.
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
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

/// The part of an IBAN-shaped match `m` that is an IBAN, as a length in
/// bytes from its start: the country's length when it is known, else the
/// longest run of whole groups that passes mod 97 (so that a following
/// word or number the pattern absorbed is left out).
fn iban_prefix(m: &str) -> Option<usize> {
    if !m.is_ascii() {
        return None;
    }
    // Ends of whole groups: before each space, and the end of the match.
    let mut ends: Vec<usize> = m
        .char_indices()
        .filter(|(_, c)| *c == ' ')
        .map(|(i, _)| i)
        .collect();
    ends.push(m.len());
    let alnum_before = |end: usize| m[..end].chars().filter(char::is_ascii_alphanumeric).count();
    let country = m.get(..2).map(str::to_ascii_uppercase);
    let expected = IBAN_LENGTHS
        .iter()
        .find(|(c, _)| Some(*c) == country.as_deref())
        .map(|(_, n)| *n);
    // The end after exactly the country's number of characters, when it
    // is known and falls on a group boundary (`... 7034 please`).
    let by_length = expected.and_then(|n| {
        let mut count = 0;
        let end = m.char_indices().find_map(|(i, c)| {
            if c.is_ascii_alphanumeric() {
                count += 1;
            }
            (count == n).then_some(i + c.len_utf8())
        })?;
        let at_boundary = m[end..].chars().next().is_none_or(|c| c == ' ');
        (at_boundary && iban_ok(&m[..end])).then_some(end)
    });
    // Else the longest run of whole groups that passes mod 97.
    by_length.or_else(|| {
        ends.into_iter()
            .rev()
            .filter(|e| alnum_before(*e) >= 15)
            .find(|e| iban_ok(&m[..*e]))
    })
}

/// The part of a card-shaped match `m` that is a card number, as a byte
/// range: the whole match when it passes Luhn, else the longest window of
/// whole digit groups with 13 to 19 digits that does (so that an expiry
/// date or a CVC typed after it does not hide it).
fn card_window(m: &str) -> Option<(usize, usize)> {
    // Groups: (start, end, digits).
    let mut groups: Vec<(usize, usize, Vec<u32>)> = Vec::new();
    let mut current: Option<(usize, Vec<u32>)> = None;
    for (i, c) in m.char_indices() {
        match c.to_digit(10).filter(|_| c.is_ascii_digit()) {
            Some(d) => current.get_or_insert_with(|| (i, Vec::new())).1.push(d),
            None => {
                if let Some((start, digits)) = current.take() {
                    groups.push((start, i, digits));
                }
            }
        }
    }
    if let Some((start, digits)) = current.take() {
        groups.push((start, m.len(), digits));
    }
    let mut best: Option<(usize, usize, usize)> = None;
    for first in 0..groups.len() {
        let mut digits: Vec<u32> = Vec::new();
        for last in first..groups.len() {
            digits.extend_from_slice(&groups[last].2);
            if digits.len() > 19 {
                break;
            }
            if (13..=19).contains(&digits.len())
                && luhn(&digits)
                && best.is_none_or(|(_, _, n)| digits.len() > n)
            {
                best = Some((groups[first].0, groups[last].1, digits.len()));
            }
        }
    }
    best.map(|(start, end, _)| (start, end))
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

    /// The part of the match `start..end` of `text` that is PII, if any.
    fn accepted(text: &str, start: usize, end: usize, check: Check) -> Option<(usize, usize)> {
        let whole = Some((start, end));
        let m = &text[start..end];
        match check {
            Check::None => whole,
            Check::Luhn => card_window(m).map(|(s, e)| (start + s, start + e)),
            Check::Iban => iban_prefix(m).map(|e| (start, start + e)),
            Check::Ipv6 => (m.chars().filter(|c| *c == ':').count() >= 2 && m.len() >= 3)
                .then_some((start, end)),
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
                ((7..=15).contains(&digits)
                    && !after_code_word
                    && !before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
                    && !DATE.is_match(m.trim()))
                .then_some((start, end))
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
                // Never re-mask a placeholder made by an earlier rule.
                if m.as_str().contains('<') {
                    continue;
                }
                let Some((start, end)) = Self::accepted(&current, m.start(), m.end(), rule.check)
                else {
                    continue;
                };
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

    #[test]
    fn non_ascii_digits_and_letters_neither_panic_nor_mask() {
        // `३` is a Devanagari digit, `\u{212A}` the Kelvin sign and `ſ` the
        // long s: Unicode `\d` / `(?i)[a-z]` matched them, and slicing the
        // match as ASCII panicked.
        for text in [
            "aa३३ 1234 5678 y",
            "aa३३ 1234 5678 9012 3456",
            "\u{212A}B82 WEST 1234 5698 7654 32",
            "GB8\u{0968} WEST 1234 5698 7654 32",
            "ſſ12 3456 7890 1234 5678",
            "mail jo\u{212A}e@example.\u{212A}om",
            "card ४१११ ११११ ११११ ११११",
        ] {
            let (m, map) = Masker::default().mask(text);
            assert!(!m.contains("<IBAN_"), "{text} -> {m}");
            assert!(!m.contains("<CARD_"), "{text} -> {m}");
            for c in text.chars().filter(|c| !c.is_ascii()) {
                assert!(m.contains(c), "{c} lost from {text} -> {m}");
            }
            assert_eq!(map.unmask(&m), text);
            assert_eq!(for_logs(text).is_empty(), text.is_empty());
        }
        assert!(!iban_ok("\u{212A}B82WEST12345698765432"));
        assert!(iban_prefix("ſſ12 3456 7890 1234 5678").is_none());
    }

    #[test]
    fn common_phone_formats_are_masked_whole() {
        for phone in [
            "07946 095812",
            "+44 7946 095812",
            "0171 1234567",
            "+49 171 1234567",
            "+31 20 1234567",
            "+49 30 12345678",
            "+33 6 12 34 56 78",
            "+44 20 7946 0958",
        ] {
            assert_eq!(
                mask(&format!("call {phone} today")),
                "call <PHONE_1> today",
                "{phone}"
            );
        }
    }

    #[test]
    fn a_card_followed_by_more_digits_is_still_masked() {
        assert_eq!(
            mask("card 4111 1111 1111 1111 12/26 please"),
            "card <CARD_1> 12/26 please"
        );
        assert_eq!(
            mask("card 4111111111111111 123 thanks"),
            "card <CARD_1> 123 thanks"
        );
        assert_eq!(
            mask("card 4111-1111-1111-1111 07 thanks"),
            "card <CARD_1> 07 thanks"
        );
    }

    #[test]
    fn an_iban_followed_by_a_word_or_number_is_trimmed_to_its_length() {
        assert_eq!(
            mask("iban BE68 5390 0754 7034 please"),
            "iban <IBAN_1> please"
        );
        assert_eq!(
            mask("iban NL91 ABNA 0417 1643 00 thanks"),
            "iban <IBAN_1> thanks"
        );
        assert_eq!(
            mask("iban GB82 WEST 1234 5698 7654 32 1234 ok"),
            "iban <IBAN_1> 1234 ok"
        );
    }

    #[test]
    fn secret_like_strings_are_redacted() {
        let text = r#"{"error":{"message":"Incorrect API key provided: sk-proj-****abcd. Authorization: Bearer abc.def-123","api_key":"xyz789"}}"#;
        let out = redact_secrets(text);
        for secret in ["sk-proj", "abcd", "abc.def-123", "xyz789"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(out.contains("Incorrect API key provided"), "{out}");
    }
}
