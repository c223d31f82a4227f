//! Entity extraction: finds every entity of the intent catalogue in a text
//! and puts it in canonical form (`abc-123` → `ABC123`, `the northern
//! region` → `north`, `ten` → `10`, `(555) 010-4477` → `5550104477`).
//!
//! Patterns with a fixed shape (emails, invoices, tickets, account codes,
//! devices, phones, amounts) are found first and their spans masked, so a
//! later pattern never matches inside an earlier one. Customer names come
//! last, from capitalised runs of words that are not ordinary vocabulary,
//! or from the words after "named", "called", "customer", ...

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::text::{Vocabulary, number_word, strip_possessive};

/// An entity found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// Catalogue name, e.g. `customer`.
    pub name: &'static str,
    /// Canonical value.
    pub value: String,
    /// Byte range in the text.
    pub span: (usize, usize),
}

/// The entity names this extractor knows, in the catalogue's order.
pub const ENTITY_NAMES: [&str; 14] = [
    "customer",
    "customer_name",
    "invoice",
    "ticket",
    "device",
    "region",
    "limit",
    "email",
    "phone",
    "min_amount",
    "status",
    "priority",
    "period",
    "subject",
];

/// Entities whose canonical value is a number in JSON output.
pub const NUMERIC_ENTITIES: [&str; 2] = ["limit", "min_amount"];

macro_rules! re {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> =
            LazyLock::new(|| Regex::new($pattern).expect("a valid built-in pattern"));
    };
}

re!(EMAIL, r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b");
/// Where `text` holds e-mail addresses (byte ranges).
pub(super) fn email_spans(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    EMAIL.find_iter(text).map(|m| m.range())
}

re!(INVOICE, r"(?i)\binv(?:oice)?[-\s#]?(\d{4})[-\s](\d{1,5})\b");
re!(
    TICKET,
    r"(?i)\b(?:tck[-\s#]?|ticket\s*#\s*|ticket\s+(?:no\.?|number)\s*)(\d{1,9})\b"
);
re!(
    DATE,
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[./]\d{1,2}[./](?:\d{4}|\d{2})\b|\b\d{1,3}(?:\.\d{1,3}){3}\b"
);
re!(ACCOUNT, r"\b([A-Za-z]{3})(?:-|\s)?(\d{3})\b");
re!(
    DEVICE,
    r"\b[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*-\d{1,4}[A-Za-z]?\b"
);
re!(
    PHONE,
    r"(?:\+\s?\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,5}|(?:\(\d{1,4}\)[\s.-]?)?\b\d{2,5})(?:[\s.-]\(?\d{2,8}\)?){1,4}\b|\+?\b\d{7,15}\b"
);
re!(
    AMOUNT,
    r"(?i)(?:\b(?:over|above|more than|greater than|exceeding|at least|larger than|bigger than|higher than|min(?:imum)?(?: of)?)|>=?|≥)\s*(?:\$|usd\s*|eur\s*|€|£)?\s*(\d[\d,]*(?:\.\d+)?)\s*(k\b)?"
);
re!(
    LIMIT,
    r"(?i)\b(?:top|first|best|biggest|largest)[\s-]+(\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|fifty|hundred)\b|\b(\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|fifty|hundred)\s+(?:(?:top|biggest|largest|best|highest|greatest|heaviest|richest|most valuable|most profitable)(?:-[a-z]+)?|main|leading|customers|clients|accounts)\b"
);
re!(
    PERIOD,
    r"(?i)\b(?:(?:in|during|for|since|from)\s+)?(?:(?:this|last|past|previous|current|the last|the past)\s+(?:\d+\s+|[a-z]+\s+)?(?:days?|weeks?|months?|quarters?|years?)|today|yesterday|q[1-4](?:\s+\d{4})?|(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?:\s+\d{4})?|(?:19|20)\d{2})\b"
);

/// Regions and the words that name them.
const REGIONS: [(&str, &[&str]); 5] = [
    ("north", &["north", "northern", "northside"]),
    ("south", &["south", "southern", "southside"]),
    ("east", &["east", "eastern", "eastside"]),
    ("west", &["west", "western", "westside"]),
    (
        "central",
        &[
            "central",
            "centre",
            "center",
            "downtown",
            "midtown",
            "city centre",
            "city center",
            "middle",
        ],
    ),
];

const STATUS: [(&str, &str); 15] = [
    ("unpaid", "unpaid"),
    ("haven't paid", "unpaid"),
    ("hasn't paid", "unpaid"),
    ("have not paid", "unpaid"),
    ("has not paid", "unpaid"),
    ("didn't pay", "unpaid"),
    ("not yet paid", "unpaid"),
    ("not paid", "unpaid"),
    ("outstanding", "unpaid"),
    ("open", "unpaid"),
    ("overdue", "overdue"),
    ("past due", "overdue"),
    ("late", "overdue"),
    ("settled", "paid"),
    ("paid", "paid"),
];

const PRIORITY: [(&str, &str); 10] = [
    ("urgent", "urgent"),
    ("critical", "urgent"),
    ("emergency", "urgent"),
    ("p1", "urgent"),
    ("high", "high"),
    ("important", "high"),
    ("normal", "normal"),
    ("medium", "normal"),
    ("low", "low"),
    ("minor", "low"),
];

/// Currency codes, which look like account codes before an amount.
const CURRENCIES: [&str; 8] = ["EUR", "USD", "GBP", "CHF", "CAD", "AUD", "JPY", "SEK"];

/// Lower-case words that belong to a name next to a capitalised one
/// ("Anna de Vries", "van der Berg", "Pedro dos Santos").
const NAME_PARTICLES: [&str; 16] = [
    "de", "van", "von", "der", "den", "ter", "la", "le", "da", "das", "dos", "di", "del", "du",
    "des", "bin",
];

/// Words that introduce a customer's name typed in lower case.
const NAME_TRIGGERS: [&str; 10] = [
    "named", "called", "customer", "client", "for", "of", "by", "from", "about", "is",
];

/// Words never part of a customer name.
const NOT_NAMES: [&str; 59] = [
    "i",
    "me",
    "my",
    "we",
    "our",
    "us",
    "you",
    "your",
    "he",
    "she",
    "they",
    "them",
    "their",
    "his",
    "her",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "the",
    "a",
    "an",
    "and",
    "or",
    "any",
    "all",
    "some",
    "please",
    "thanks",
    "ok",
    "okay",
    "hi",
    "hello",
    "hey",
    "mr",
    "mrs",
    "ms",
    "mx",
    "miss",
    "dr",
    "prof",
    "customer",
    "customers",
    "client",
    "account",
    "region",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "today",
    "tomorrow",
    "yesterday",
    "tonight",
];

fn overlaps(spans: &[(usize, usize)], (s, e): (usize, usize)) -> bool {
    spans.iter().any(|&(a, b)| s < b && a < e)
}

fn word_at(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

/// Finds `phrase` as whole words, case-insensitively.
fn find_phrase(lower: &str, phrase: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = lower[from..].find(phrase) {
        let s = from + i;
        let e = s + phrase.len();
        if word_at(lower, s, e) {
            return Some((s, e));
        }
        from = s + phrase.len().max(1);
    }
    None
}

/// Words that point the way to a region ("up north", "out west"): part of
/// its mention, not a request of their own ("down" is not an outage there).
const REGION_POINTERS: &[&str] = &["up", "down", "out", "over", "back", "across"];

/// `span`, a region word in `lower`, widened over a pointer word right
/// before it and a "side" or "end" right after it ("down the east side").
fn widen_region(lower: &str, span: (usize, usize)) -> (usize, usize) {
    let (mut s, mut e) = span;
    let before = lower[..s].trim_end();
    let before = before.strip_suffix(" the").unwrap_or(before);
    if let Some(word) = before.rsplit(' ').next()
        && REGION_POINTERS.contains(&word)
    {
        s = before.len() - word.len();
    }
    let after = &lower[e..];
    for tail in [" side", "-side", " end"] {
        let whole_word = after
            .strip_prefix(tail)
            .is_some_and(|rest| !rest.chars().next().is_some_and(char::is_alphanumeric));
        if whole_word {
            e += tail.len();
            break;
        }
    }
    (s, e)
}

fn parse_count(word: &str) -> Option<u32> {
    word.parse::<u32>()
        .ok()
        .or_else(|| number_word(&word.to_lowercase()))
}

/// The extractor. It needs the training vocabulary to tell ordinary words
/// from names.
#[derive(Debug, Clone)]
pub struct Extractor {
    vocabulary: Vocabulary,
}

impl Extractor {
    /// An extractor that treats words of `vocabulary` as ordinary words.
    pub fn new(vocabulary: Vocabulary) -> Self {
        Self { vocabulary }
    }

    /// All entities in `text`, each name at most once (the first found).
    pub fn extract(&self, text: &str) -> Vec<Entity> {
        let lower = lowercase_aligned(text);
        let mut found: Vec<Entity> = Vec::new();
        let mut taken: Vec<(usize, usize)> = Vec::new();
        let push = |found: &mut Vec<Entity>,
                    taken: &mut Vec<(usize, usize)>,
                    name: &'static str,
                    value: String,
                    span: (usize, usize)| {
            taken.push(span);
            if !found.iter().any(|e| e.name == name) {
                found.push(Entity { name, value, span });
            }
        };

        for m in EMAIL.find_iter(text) {
            push(
                &mut found,
                &mut taken,
                "email",
                m.as_str().to_lowercase(),
                (m.start(), m.end()),
            );
        }
        for c in INVOICE.captures_iter(text) {
            let (Some(all), Some(year), Some(num)) = (c.get(0), c.get(1), c.get(2)) else {
                continue;
            };
            if overlaps(&taken, (all.start(), all.end())) {
                continue;
            }
            let n: u64 = num.as_str().parse().unwrap_or(0);
            push(
                &mut found,
                &mut taken,
                "invoice",
                format!("INV-{}-{n:03}", year.as_str()),
                (all.start(), all.end()),
            );
        }
        for c in TICKET.captures_iter(text) {
            let (Some(all), Some(num)) = (c.get(0), c.get(1)) else {
                continue;
            };
            if overlaps(&taken, (all.start(), all.end())) {
                continue;
            }
            push(
                &mut found,
                &mut taken,
                "ticket",
                format!("TCK-{}", num.as_str()),
                (all.start(), all.end()),
            );
        }
        for m in DATE.find_iter(text) {
            taken.push((m.start(), m.end()));
        }
        for c in ACCOUNT.captures_iter(text) {
            let (Some(all), Some(letters), Some(digits)) = (c.get(0), c.get(1), c.get(2)) else {
                continue;
            };
            let span = (all.start(), all.end());
            if overlaps(&taken, span) {
                continue;
            }
            // "ABC 123" with a space only counts in capitals, so "top 100"
            // is not an account.
            let spaced = all.as_str().contains(' ');
            let l = letters.as_str();
            if spaced && !(l.chars().all(|c| c.is_ascii_uppercase())) {
                continue;
            }
            // "EUR 500" is an amount.
            if CURRENCIES.contains(&l.to_ascii_uppercase().as_str()) {
                continue;
            }
            // A device name like SW-ABC-123 is not an account.
            if text[..span.0].ends_with('-') || text[span.1..].starts_with('-') {
                continue;
            }
            let value = format!("{}{}", l.to_ascii_uppercase(), digits.as_str());
            push(&mut found, &mut taken, "customer", value, span);
        }
        for m in DEVICE.find_iter(text) {
            let span = (m.start(), m.end());
            if overlaps(&taken, span) {
                continue;
            }
            let s = m.as_str();
            let letters = s.chars().filter(char::is_ascii_alphabetic).count();
            if letters < 2 || s.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            // An ordinary word and a number ("top-10", "covid-19") is not
            // a device; device names have a prefix of their own.
            if let Some((prefix, _)) = s.split_once('-')
                && s.matches('-').count() == 1
                && self.is_ordinary(prefix)
            {
                continue;
            }
            push(
                &mut found,
                &mut taken,
                "device",
                s.to_ascii_uppercase(),
                span,
            );
        }
        for c in AMOUNT.captures_iter(text) {
            let (Some(all), Some(num)) = (c.get(0), c.get(1)) else {
                continue;
            };
            let span = (all.start(), all.end());
            if overlaps(&taken, span) {
                continue;
            }
            let Ok(mut value) = num.as_str().replace(',', "").parse::<f64>() else {
                continue;
            };
            if c.get(2).is_some() {
                value *= 1000.0;
            }
            push(
                &mut found,
                &mut taken,
                "min_amount",
                format_number(value),
                span,
            );
        }
        for c in LIMIT.captures_iter(&lower) {
            let Some(all) = c.get(0) else { continue };
            let span = (all.start(), all.end());
            if overlaps(&taken, span) {
                continue;
            }
            let word = c
                .get(1)
                .or_else(|| c.get(2))
                .map(|m| m.as_str())
                .unwrap_or_default();
            if let Some(n) = parse_count(word).filter(|n| (1..=500).contains(n)) {
                push(&mut found, &mut taken, "limit", n.to_string(), span);
            }
        }
        for m in PHONE.find_iter(text) {
            let span = (m.start(), m.end());
            if overlaps(&taken, span) {
                continue;
            }
            let s = m.as_str().trim();
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            if !(7..=15).contains(&digits.len()) {
                continue;
            }
            let value = if s.starts_with('+') {
                format!("+{digits}")
            } else {
                digits
            };
            push(&mut found, &mut taken, "phone", value, span);
        }
        for m in PERIOD.find_iter(&lower) {
            let span = (m.start(), m.end());
            if overlaps(&taken, span) {
                continue;
            }
            let value = text[span.0..span.1].trim().to_owned();
            // "may" and "march" are also ordinary words; only take them
            // after a preposition or with a year.
            let bare = value.to_lowercase();
            if (bare == "may"
                || bare == "march"
                || bare == "mar"
                || bare == "jan"
                || bare == "sept")
                && !value.contains(' ')
            {
                continue;
            }
            if self.month_opens_a_name(text, span) {
                continue;
            }
            push(&mut found, &mut taken, "period", value, span);
        }
        let text_words = words_with_spans(text);
        for (canonical, words) in REGIONS {
            for w in words {
                if let Some(span) = find_phrase(&lower, w)
                    .filter(|s| !overlaps(&taken, *s))
                    .filter(|s| !self.ends_a_name(text, &text_words, s.0))
                {
                    let wide = widen_region(&lower, span);
                    let span = if overlaps(&taken, wide) { span } else { wide };
                    push(&mut found, &mut taken, "region", canonical.to_owned(), span);
                }
            }
        }
        for (word, canonical) in STATUS {
            if let Some(span) = find_phrase(&lower, word).filter(|s| !overlaps(&taken, *s)) {
                push(&mut found, &mut taken, "status", canonical.to_owned(), span);
            }
        }
        for (word, canonical) in PRIORITY {
            if let Some(span) = find_phrase(&lower, word).filter(|s| !overlaps(&taken, *s)) {
                push(
                    &mut found,
                    &mut taken,
                    "priority",
                    canonical.to_owned(),
                    span,
                );
            }
        }
        if let Some(subject) = subject(text, &taken) {
            found.push(subject);
        }
        if !found.iter().any(|e| e.name == "customer")
            && let Some(name) = self.customer_name(text, &text_words, &taken)
        {
            found.push(name);
        }
        found.sort_by_key(|e| e.span.0);
        found
    }

    fn is_ordinary(&self, word: &str) -> bool {
        let lower = word.to_lowercase();
        NOT_NAMES.contains(&lower.as_str())
            || self.vocabulary.contains(&lower)
            || REGIONS.iter().any(|(_, ws)| ws.contains(&lower.as_str()))
            || lower.chars().any(|c| c.is_ascii_digit())
    }

    /// A customer name: a run of capitalised words that are not ordinary
    /// vocabulary (the first run of two or more words, else the first
    /// single word: "Caller from Harbor Dental Clinic" names the clinic),
    /// or lower-case unknown words after a trigger word.
    fn customer_name(
        &self,
        text: &str,
        words: &[(usize, usize, &str)],
        taken: &[(usize, usize)],
    ) -> Option<Entity> {
        let mut best: Option<(usize, usize)> = None;
        let mut single: Option<(usize, usize)> = None;
        let mut i = 0;
        while i < words.len() {
            let (s, e, w) = words[i];
            let capital = w.chars().next().is_some_and(char::is_uppercase);
            // A capitalised first word is only a name if it is not an
            // ordinary word ("Show", "Who").
            let ordinary_opener = i == 0 && self.is_ordinary(w);
            let candidate = capital && !ordinary_opener;
            if candidate && !overlaps(taken, (s, e)) && !self.is_stop_capital(w) {
                let mut j = i;
                while j + 1 < words.len() && j - i < 4 {
                    let (ns, ne, nw) = words[j + 1];
                    let joined = text[words[j].1..ns].trim().is_empty()
                        || text[words[j].1..ns].trim() == "&";
                    let next_capital = nw.chars().next().is_some_and(char::is_uppercase)
                        || NAME_PARTICLES.contains(&nw);
                    if joined
                        && next_capital
                        && !overlaps(taken, (ns, ne))
                        && (!self.is_stop_capital(nw)
                            || self.ends_a_name(text, words, ns)
                            || self.acronym_within_name(text, words, j + 1, taken))
                    {
                        j += 1;
                    } else {
                        break;
                    }
                }
                // A particle ends no name ("for Pedro dos", "Tom Becker ter
                // review"): it joins only before a capitalised word.
                while j > i && NAME_PARTICLES.contains(&words[j].2) {
                    j -= 1;
                }
                let span = (s, words[j].1);
                // A run of ordinary words ("Packet Loss") is not a name.
                if j > i && (i..=j).any(|k| !self.is_ordinary(words[k].2)) {
                    best = Some(span);
                    break;
                }
                // A single capitalised ordinary word ("Show", "North") is
                // not a name.
                if !self.is_ordinary(w) {
                    single = single.or(Some(span));
                }
                i = j + 1;
                continue;
            }
            i += 1;
        }
        best = best.or(single);
        if best.is_none() {
            // Lower-case names after a trigger: "customer named garcia".
            for k in 0..words.len() {
                let (_, _, w) = words[k];
                if !NAME_TRIGGERS.contains(&w.to_lowercase().as_str()) {
                    continue;
                }
                let mut j = k + 1;
                while j < words.len() && j - k <= 3 {
                    let (s, e, nw) = words[j];
                    if overlaps(taken, (s, e)) || self.is_ordinary(nw) || nw.len() < 2 {
                        break;
                    }
                    j += 1;
                }
                if j > k + 1 {
                    best = Some((words[k + 1].0, words[j - 1].1));
                    break;
                }
            }
        }
        let (mut s, e) = best?;
        // Particles right before the name open it: "van der Berg".
        if let Some(mut k) = words.iter().position(|w| w.0 == s) {
            while let Some(&(ps, pe, particle)) = k.checked_sub(1).and_then(|p| words.get(p)) {
                if !NAME_PARTICLES.contains(&particle)
                    || !text[pe..s].trim().is_empty()
                    || overlaps(taken, (ps, pe))
                {
                    break;
                }
                s = ps;
                k -= 1;
            }
        }
        let value = strip_possessive(text[s..e].trim());
        if value.is_empty() {
            return None;
        }
        Some(Entity {
            name: "customer_name",
            value: value.to_owned(),
            span: (s, e),
        })
    }

    /// Whether the period at `span` is "for" or "from" and a capitalised
    /// "May" or "Jan" (months that are also first names) that a name
    /// continues: "for Jan van den Berg", "from May Chen" name a customer,
    /// unlike "for May", "for May 2026", "for May Please check" or "since
    /// May Acme Corp". The next word must look like a name (a capital, then
    /// lower case; neither ordinary vocabulary nor a word that never starts
    /// a name) or be a particle.
    fn month_opens_a_name(&self, text: &str, span: (usize, usize)) -> bool {
        let found = &text[span.0..span.1];
        let Some((pointer, month)) = found.split_once(' ') else {
            return false;
        };
        if !["May", "Jan"].contains(&month)
            || !["for", "from"].contains(&pointer.to_lowercase().as_str())
        {
            return false;
        }
        let Some(rest) = text[span.1..].strip_prefix(' ') else {
            return false;
        };
        let next = rest
            .split(|c: char| !c.is_alphabetic() && c != '\'')
            .next()
            .unwrap_or_default();
        let mut chars = next.chars();
        let name_like = chars.next().is_some_and(char::is_uppercase)
            && chars.next().is_some_and(char::is_lowercase)
            && !self.is_ordinary(next)
            && !self.is_stop_capital(next);
        name_like || (NAME_PARTICLES.contains(&next) && rest[next.len()..].starts_with(' '))
    }

    /// Whether the word of `text` starting at byte `start` is "Centre" or
    /// "Center" ending a name: it follows, with one space between each,
    /// capitalised words of which one is not ordinary ("Pinewood Medical
    /// Centre"). Compass words stay regions even after a name ("Dublin
    /// North" is the north region), as does a centre that opens a run.
    fn ends_a_name(&self, text: &str, words: &[(usize, usize, &str)], start: usize) -> bool {
        let Some(k) = words.iter().position(|w| w.0 == start) else {
            return false;
        };
        let capital = |w: &str| w.chars().next().is_some_and(char::is_uppercase);
        let centre = strip_possessive(words[k].2);
        if !capital(centre) || !["centre", "center"].contains(&centre.to_lowercase().as_str()) {
            return false;
        }
        let mut j = k;
        while j > 0 {
            let (_, before_end, before) = words[j - 1];
            let joined = text.get(before_end..words[j].0) == Some(" ");
            if !joined || !capital(before) || self.is_stop_capital(before) {
                return false;
            }
            if !self.is_ordinary(before) {
                return true;
            }
            j -= 1;
        }
        false
    }

    /// Whether `words[k]` is an acronym in the middle of a name ("Kestrel
    /// IT Ltd", "Harbour UK Holdings"): written in capitals, not a
    /// technical term, and followed, one space apart, by a capitalised word
    /// that may be part of a name and is not already another entity.
    fn acronym_within_name(
        &self,
        text: &str,
        words: &[(usize, usize, &str)],
        k: usize,
        taken: &[(usize, usize)],
    ) -> bool {
        let Some(&(_, end, word)) = words.get(k) else {
            return false;
        };
        let acronym = word.chars().count() >= 2 && word.chars().all(|c| c.is_ascii_uppercase());
        let next = words.get(k + 1).is_some_and(|&(ns, ne, nw)| {
            text.get(end..ns) == Some(" ")
                && !overlaps(taken, (ns, ne))
                && nw.chars().next().is_some_and(char::is_uppercase)
                && !self.is_stop_capital(nw)
        });
        acronym && next && !TECHNICAL_TERMS.contains(&word.to_lowercase().as_str())
    }

    /// Capitalised words that start sentences or name months, days and
    /// intents, never names.
    fn is_stop_capital(&self, word: &str) -> bool {
        let lower = strip_possessive(word).to_lowercase();
        NOT_NAMES.contains(&lower.as_str())
            || REGIONS.iter().any(|(_, ws)| ws.contains(&lower.as_str()))
            || TECHNICAL_TERMS.contains(&lower.as_str())
            || [
                "january",
                "february",
                "march",
                "april",
                "june",
                "july",
                "august",
                "september",
                "october",
                "november",
                "december",
                "q1",
                "q2",
                "q3",
                "q4",
            ]
            .contains(&lower.as_str())
            || (self.vocabulary.contains(&lower) && self.vocabulary.is_common(&lower))
    }
}

/// Units, network terms and abbreviations that are never part of a name,
/// capitalised or not ("Tom Becker OK", "VIP accounts").
const TECHNICAL_TERMS: &[&str] = &[
    "gb", "mb", "tb", "olt", "ont", "cpe", "isp", "id", "url", "ip", "dsl", "fiber", "fibre",
    "wifi", "inv", "bng", "dslam", "snr", "sla", "noc", "vip", "mrr", "arpu", "fup", "mttr", "tv",
    "ok", "asap", "fyi", "eta", "pls",
];

/// Lower-cases `text` character by character, keeping a character as it is
/// when its lower case has another length in UTF-8, so that byte offsets in
/// the result are valid in `text` too.
pub fn lowercase_aligned(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let mut lower = c.to_lowercase();
        match (lower.next(), lower.next()) {
            (Some(l), None) if l.len_utf8() == c.len_utf8() => out.push(l),
            _ => out.push(c),
        }
    }
    out
}

/// Words (letters, digits, apostrophes, dots inside) with their spans.
pub fn words_with_spans(text: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let inside = c.is_alphanumeric()
            || ((c == '\'' || c == '’' || c == '-' || c == '.') && start.is_some());
        match (inside, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let w = text[s..i].trim_end_matches(['\'', '’', '-', '.']);
                out.push((s, s + w.len(), w));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        let w = text[s..].trim_end_matches(['\'', '’', '-', '.']);
        out.push((s, s + w.len(), w));
    }
    out
}

/// The subject of a ticket: what follows a colon, "about", "regarding",
/// "subject" or a comma after the customer.
fn subject(text: &str, taken: &[(usize, usize)]) -> Option<Entity> {
    let lower = text.to_lowercase();
    let mut candidates: Vec<usize> = Vec::new();
    if let Some(i) = text.find(':') {
        candidates.push(i + 1);
    }
    for marker in [
        " about ",
        " regarding ",
        " re: ",
        " subject ",
        " saying ",
        " because ",
    ] {
        if let Some(i) = lower.find(marker) {
            candidates.push(i + marker.len());
        }
    }
    if let Some(&last) = taken.iter().map(|(_, e)| e).max()
        && let Some(rest) = text.get(last..)
        && let Some(stripped) = rest.strip_prefix(',')
    {
        candidates.push(last + 1 + (stripped.len() - stripped.trim_start().len()));
    }
    let start = candidates.into_iter().min()?;
    let value = text
        .get(start..)?
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .trim();
    (!value.is_empty() && value.len() <= 200).then(|| Entity {
        name: "subject",
        value: value.to_owned(),
        span: (start, text.len()),
    })
}

/// Formats a number without a trailing `.0`.
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Entities as a name → value map (first value of each name).
pub fn to_map(entities: &[Entity]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for e in entities {
        map.entry(e.name.to_owned())
            .or_insert_with(|| e.value.clone());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(text: &str) -> BTreeMap<String, String> {
        let mut vocabulary = Vocabulary::common();
        vocabulary.learn([
            "show invoices for customer",
            "what is the balance of the account",
            "find customers named",
            "open a ticket about slow speeds",
        ]);
        to_map(&Extractor::new(vocabulary).extract(text))
    }

    fn get(text: &str, name: &str) -> Option<String> {
        extract(text).get(name).cloned()
    }

    #[test]
    fn account_codes_in_any_case_with_or_without_dash() {
        assert_eq!(
            get("invoices for abc123", "customer").as_deref(),
            Some("ABC123")
        );
        assert_eq!(
            get("account ABC-123 please", "customer").as_deref(),
            Some("ABC123")
        );
        assert_eq!(
            get("account ABC 123", "customer").as_deref(),
            Some("ABC123")
        );
        assert_eq!(get("top 100 customers", "customer"), None, "not an account");
        assert_eq!(
            get("mail abc123@example.com", "customer"),
            None,
            "inside an email"
        );
    }

    #[test]
    fn invoices_tickets_and_devices() {
        assert_eq!(
            get("open inv-2024-117", "invoice").as_deref(),
            Some("INV-2024-117")
        );
        assert_eq!(
            get("invoice INV 2025 7", "invoice").as_deref(),
            Some("INV-2025-007")
        );
        assert_eq!(
            get("status of tck-1042", "ticket").as_deref(),
            Some("TCK-1042")
        );
        assert_eq!(
            get("is device olt-east-02 up", "device").as_deref(),
            Some("OLT-EAST-02")
        );
        assert_eq!(
            get("check router CORE-RTR-1", "device").as_deref(),
            Some("CORE-RTR-1")
        );
        assert_eq!(get("open inv-2024-117", "device"), None);
        // An ordinary word and a number is not a device.
        assert_eq!(get("give me a top-10 list of customers", "device"), None);
        assert_eq!(
            get("is SW-01 up", "device").as_deref(),
            Some("SW-01"),
            "a prefix of its own is"
        );
    }

    #[test]
    fn regions_and_their_adjectives() {
        assert_eq!(
            get("outages in the Northern region", "region").as_deref(),
            Some("north")
        );
        assert_eq!(get("the south", "region").as_deref(), Some("south"));
        assert_eq!(
            get("service interruptions downtown", "region").as_deref(),
            Some("central")
        );
        assert_eq!(get("western customers", "region").as_deref(), Some("west"));
    }

    #[test]
    fn acronyms_inside_company_names_amounts_after_a_sign_and_superlative_limits() {
        assert_eq!(
            get("unpaid bills Kestrel IT Ltd", "customer_name").as_deref(),
            Some("Kestrel IT Ltd")
        );
        // An acronym that ends the text, is a technical term or comes
        // before another entity is not.
        assert_eq!(
            get("unpaid bills Kestrel IT", "customer_name").as_deref(),
            Some("Kestrel")
        );
        assert_eq!(
            get("is Kestrel IT SW-EAST-02 down", "customer_name").as_deref(),
            Some("Kestrel")
        );
        assert_eq!(
            get("ping Tom Becker ONT Router", "customer_name").as_deref(),
            Some("Tom Becker")
        );
        assert_eq!(
            get("overdue >500 north", "min_amount").as_deref(),
            Some("500")
        );
        assert_eq!(
            get("invoices ≥ 1,200", "min_amount").as_deref(),
            Some("1200")
        );
        assert_eq!(
            get("our ten highest-spending customers", "limit").as_deref(),
            Some("10")
        );
        // Only superlatives of size or value make a limit; a region, a
        // priority or a status after a number stays what it is.
        assert_eq!(
            get("our 10 west customers", "region").as_deref(),
            Some("west")
        );
        let found = extract("the 5 most urgent tickets");
        assert_eq!(found.get("limit"), None);
        assert_eq!(found.get("priority").map(String::as_str), Some("urgent"));
        assert_eq!(get("one request: the 3 latest invoices", "limit"), None);
    }

    #[test]
    fn a_region_mention_takes_its_pointer_and_side() {
        let vocabulary = Vocabulary::common();
        let extractor = Extractor::new(vocabulary);
        let mention = |text: &str| {
            extractor
                .extract(text)
                .into_iter()
                .find(|e| e.name == "region")
                .map(|e| (e.value.clone(), text[e.span.0..e.span.1].to_owned()))
        };
        let pair = |v: &str, m: &str| Some((v.to_owned(), m.to_owned()));
        assert_eq!(mention("and down south?"), pair("south", "down south"));
        assert_eq!(mention("what about up north"), pair("north", "up north"));
        assert_eq!(
            mention("anything out the West side"),
            pair("west", "out the West side")
        );
        assert_eq!(
            mention("is anything down on the east side"),
            pair("east", "east side")
        );
        assert_eq!(mention("outages in central"), pair("central", "central"));
        assert_eq!(mention("the west sides"), pair("west", "west"));
        // Text after the region that is not a tail, with wide characters
        // where a tail's end would fall.
        assert_eq!(mention("west ab éx"), pair("west", "west"));
    }

    #[test]
    fn numbers_written_as_words_and_amounts() {
        assert_eq!(get("top 5 customers", "limit").as_deref(), Some("5"));
        assert_eq!(get("a top-10 list", "limit").as_deref(), Some("10"));
        assert_eq!(
            get("the ten biggest accounts", "limit").as_deref(),
            Some("10")
        );
        assert_eq!(
            get("overdue invoices over $100", "min_amount").as_deref(),
            Some("100")
        );
        assert_eq!(get("above 2.5k", "min_amount").as_deref(), Some("2500"));
        assert_eq!(
            get("more than 1,250.50 dollars", "min_amount").as_deref(),
            Some("1250.5")
        );
        // A currency code before an amount is not an account.
        assert_eq!(get("overdue invoices over EUR 500", "customer"), None);
        assert_eq!(
            get("overdue invoices over EUR 500", "min_amount").as_deref(),
            Some("500")
        );
    }

    #[test]
    fn emails_and_phones() {
        assert_eq!(
            get("email Jane.Doe@Example.com", "email").as_deref(),
            Some("jane.doe@example.com")
        );
        assert_eq!(
            get("phone (555) 010-4477", "phone").as_deref(),
            Some("5550104477")
        );
        assert_eq!(
            get("new phone: +44 20 7946 0958", "phone").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(
            get("call 555-867-5309", "phone").as_deref(),
            Some("5558675309")
        );
        // Groups of up to eight digits are read whole, never cut short.
        assert_eq!(
            get("set the phone to +49 30 1234567", "phone").as_deref(),
            Some("+49301234567")
        );
        // After a country code, the first group may be one digit (French
        // mobiles: +33 6 ...).
        assert_eq!(
            get("change her phone to +33 6 12 34 56 78", "phone").as_deref(),
            Some("+33612345678")
        );
        assert_eq!(
            get("mobile is now 07700 900123", "phone").as_deref(),
            Some("07700900123")
        );
        assert_eq!(
            get("new number 030 12345678", "phone").as_deref(),
            Some("03012345678")
        );
        // Dotted dates and IP addresses are not phones.
        assert_eq!(get("payments since 01.03.2025", "phone"), None);
        assert_eq!(get("is 10.20.30.40 reachable", "phone"), None);
        assert_eq!(
            get("invoices dated 2025-02-01", "phone"),
            None,
            "dates are not phones"
        );
    }

    #[test]
    fn status_priority_period_subject() {
        assert_eq!(get("unpaid invoices", "status").as_deref(), Some("unpaid"));
        assert_eq!(get("paid invoices", "status").as_deref(), Some("paid"));
        assert_eq!(get("who hasn't paid", "status").as_deref(), Some("unpaid"));
        assert_eq!(
            get("critical tickets", "priority").as_deref(),
            Some("urgent")
        );
        assert_eq!(
            get("payments in March", "period").as_deref(),
            Some("in March")
        );
        assert_eq!(
            get("usage last month", "period").as_deref(),
            Some("last month")
        );
        assert_eq!(
            get("open a ticket for KLM204: no internet", "subject").as_deref(),
            Some("no internet")
        );
        assert_eq!(
            get("a ticket for KLM204 about slow speeds", "subject").as_deref(),
            Some("slow speeds")
        );
    }

    #[test]
    fn non_ascii_text_never_breaks_offsets() {
        for text in [
            "İİ 2025€ K",
            "ẞtraße Ünïcödé KLM204 in März",
            "😀 top 5 😀",
            "ﬁle ticket for ABC123: ﬀ",
        ] {
            let _ = extract(text);
        }
        assert_eq!(
            get("Ünïcödé rechnung for abc123", "customer").as_deref(),
            Some("ABC123")
        );
    }

    #[test]
    fn customer_names_as_typed() {
        assert_eq!(
            get("what invoices does John Smith have?", "customer_name").as_deref(),
            Some("John Smith")
        );
        assert_eq!(
            get("set Maria Garcia's email to a@b.co", "customer_name").as_deref(),
            Some("Maria Garcia")
        );
        assert_eq!(
            get("profile of Garcia Logistics", "customer_name").as_deref(),
            Some("Garcia Logistics")
        );
        assert_eq!(
            get("find customers named garcia", "customer_name").as_deref(),
            Some("garcia")
        );
        assert_eq!(
            get("Show invoices for customer ABC123", "customer_name"),
            None
        );
        // Particles that open a name belong to it.
        assert_eq!(
            get("find me the customer named van der Berg", "customer_name").as_deref(),
            Some("van der Berg")
        );
        assert_eq!(
            get("profile of Anna de Vries", "customer_name").as_deref(),
            Some("Anna de Vries")
        );
        assert_eq!(
            get("is Pedro dos Santos online", "customer_name").as_deref(),
            Some("Pedro dos Santos")
        );
        assert_eq!(
            get("billing for Pieter van den Berg", "customer_name").as_deref(),
            Some("Pieter van den Berg")
        );
        // A month that a name continues is the name's first word.
        assert_eq!(
            get("invoices for May Chen", "customer_name").as_deref(),
            Some("May Chen")
        );
        assert_eq!(get("invoices for May Chen", "period"), None);
        assert_eq!(
            get("billing for Jan van den Berg", "customer_name").as_deref(),
            Some("Jan van den Berg")
        );
        assert_eq!(
            get("invoices for May", "period").as_deref(),
            Some("for May")
        );
        assert_eq!(
            get("invoices for Tom Becker in May 2026", "period").as_deref(),
            Some("in May 2026")
        );
        // ... but not when the next word is an ordinary one, nor for a
        // month that is no first name.
        assert_eq!(
            get("show invoices for May Please check", "period").as_deref(),
            Some("for May")
        );
        assert_eq!(
            get("payments since Jan Thanks", "period").as_deref(),
            Some("since Jan")
        );
        assert_eq!(
            get("payments in Aug Smith", "period").as_deref(),
            Some("in Aug")
        );
        assert_eq!(
            get("Since May Acme Corp has been late", "period").as_deref(),
            Some("Since May")
        );
        // A particle joins a name only before a capitalised word.
        assert_eq!(
            get("ticket for Pedro dos", "customer_name").as_deref(),
            Some("Pedro")
        );
        assert_eq!(
            get("open ticket for Tom Becker ter review", "customer_name").as_deref(),
            Some("Tom Becker")
        );
        // Everyday adverbs after a trigger word are not a name.
        assert_eq!(get("who is that customer anyway", "customer_name"), None);
        assert_eq!(get("is customer actually online", "customer_name"), None);
        assert_eq!(get("What is the balance", "customer_name"), None);
        // A run of two or more capitalised words beats a single one.
        assert_eq!(
            get(
                "Caller from Harbor Dental Clinic wants to know what they owe",
                "customer_name"
            )
            .as_deref(),
            Some("Harbor Dental Clinic")
        );
        assert_eq!(
            get("is Okafor a customer", "customer_name").as_deref(),
            Some("Okafor")
        );
        assert_eq!(
            get("ticket for Okafor: Show Invoices", "customer_name").as_deref(),
            Some("Okafor"),
            "a run of ordinary words is not a name"
        );
        // "Centre" ending a name belongs to it; one that follows only
        // ordinary words, and a compass word before or after a name, name
        // a region.
        let text = "create a ticket for Pinewood Medical Centre - engineer to swap the CPE";
        assert_eq!(
            get(text, "customer_name").as_deref(),
            Some("Pinewood Medical Centre")
        );
        assert_eq!(get(text, "region"), None);
        assert_eq!(
            get("outages in North Dublin", "region").as_deref(),
            Some("north")
        );
        assert_eq!(
            get("ticket for Okafor Monday please", "customer_name").as_deref(),
            Some("Okafor"),
            "only Centre or Center joins a name this way"
        );
        // A title is not part of the name (as in common named-entity
        // conventions; customer records hold names without one).
        assert_eq!(
            get("Mrs. Olga Petrenko invoices pls", "customer_name").as_deref(),
            Some("Olga Petrenko")
        );
        assert_eq!(
            get("customer profile for Dr Rajesh Iyer", "customer_name").as_deref(),
            Some("Rajesh Iyer")
        );
        assert_eq!(
            get("info on Prof. Okafor", "customer_name").as_deref(),
            Some("Okafor")
        );
        assert_eq!(
            get("any outages in the City Centre", "region").as_deref(),
            Some("central")
        );
        assert_eq!(
            get("outages in Dublin North", "region").as_deref(),
            Some("north")
        );
        assert_eq!(
            get("show Pinewood Medical Centre's invoices", "customer_name").as_deref(),
            Some("Pinewood Medical Centre")
        );
        // Days are not names, capitalised or not.
        assert_eq!(
            get("schedule a technician visit for thursday", "customer_name"),
            None
        );
        assert_eq!(get("any outages on Sunday", "customer_name"), None);
    }
}
