//! Text handling shared by the NLU stages: words, number words, a light
//! stemmer, the vocabulary used to tell ordinary words from names and to
//! correct typos ("invocies" → "invoices"), agents' shorthand, a message's
//! sentences, and words that point back to the conversation's customer.

use std::collections::{BTreeMap, BTreeSet};

/// Common English words: never customer names, even capitalised.
const COMMON: &str = "a about above after again all also am an and any are as at be because been before being \
below between both but by can could did do does doing down during each few for from further had has have having \
he her here hers him his how i if in into is it its just me more most my no nor not now of off on once only or \
other our out over own same she should so some such than that the their them then there these they this those \
through to too under until up very was we were what when where which while who whom why will with would you your \
yours show list give get find tell pull bring display see check look open create make please thanks thank \
hello hi hey okay ok yes no need want like know let lets much many new old last next first this current today \
tomorrow yesterday week month year day time right now still ever already just also again every each anything \
something nothing everything someone anyone everyone same well good great best top big small high low \
anyway anyways actually really maybe perhaps probably basically apparently honestly seriously definitely \
literally exactly quickly urgently kindly asap even though although instead otherwise either neither whether \
yet soon later earlier recently currently usually always never sometimes often almost quite rather somehow";

/// Shorthand that agents type, and the words it stands for. Features read
/// the full words, so "pmt hist" means what "payment history" means even
/// where no training example abbreviates them.
const SHORTHAND: &[(&str, &[&str])] = &[
    ("acc", &["account"]),
    ("acct", &["account"]),
    ("accts", &["accounts"]),
    ("addr", &["address"]),
    ("amt", &["amount"]),
    ("arpu", &["average", "revenue", "per", "user"]),
    ("bal", &["balance"]),
    ("cust", &["customer"]),
    ("custs", &["customers"]),
    ("dl", &["download"]),
    ("gen", &["generate"]),
    ("hist", &["history"]),
    ("inv", &["invoice"]),
    ("invs", &["invoices"]),
    ("mrr", &["monthly", "recurring", "revenue"]),
    ("msg", &["message"]),
    ("nbr", &["number"]),
    ("num", &["number"]),
    ("perf", &["performance"]),
    ("pmt", &["payment"]),
    ("pmts", &["payments"]),
    ("pri", &["priority"]),
    ("prio", &["priority"]),
    ("pymt", &["payment"]),
    ("pymts", &["payments"]),
    ("rev", &["revenue"]),
    ("rn", &["right", "now"]),
    ("svc", &["service"]),
    ("thx", &["thanks"]),
    ("tix", &["tickets"]),
    ("tkt", &["ticket"]),
    ("tkts", &["tickets"]),
    ("txn", &["transaction"]),
    ("txns", &["transactions"]),
    ("ul", &["upload"]),
    ("wrt", &["about"]),
    ("ytd", &["this", "year"]),
];

/// The words `word` (lower case) is shorthand for, if it is shorthand.
pub fn expand_shorthand(word: &str) -> Option<&'static [&'static str]> {
    SHORTHAND
        .binary_search_by(|(short, _)| short.cmp(&word))
        .ok()
        .map(|i| SHORTHAND[i].1)
}

/// Words that a full stop ends without ending the sentence ("Mr. Smith").
const DOTTED_ABBREVIATIONS: &[&str] = &[
    "acct", "approx", "cust", "dr", "e.g", "eg", "etc", "i.e", "ie", "inv", "miss", "mr", "mrs",
    "ms", "mx", "no", "nr", "prof", "re", "ref", "st", "vs",
];

/// Greetings that may open a message before its request ("Hi, could you").
const GREETINGS: &[&str] = &[
    "hello",
    "hey",
    "hi",
    "hiya",
    "morning",
    "afternoon",
    "evening",
];

/// The pieces of `text` that could each be a request on their own, as
/// byte ranges: its sentences (ended by `.`, `!`, `?` or `;` before a
/// space, or set apart by a spaced dash), with an opening greeting as a
/// piece of its own. `keep` lists byte ranges no boundary may cut (the
/// text's entities). A text of one sentence is one piece; pieces without a
/// letter or digit are left out.
pub fn sentences(text: &str, keep: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let inside = |at: usize| keep.iter().any(|&(s, e)| s < at && at < e);
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        let next = i + c.len_utf8();
        let spaced = bytes.get(next).is_some_and(u8::is_ascii_whitespace);
        // Whether a piece ends here, and whether `c` belongs to it.
        let (ends, kept) = match c {
            '.' => {
                let word = text[..i]
                    .rsplit(|ch: char| ch.is_whitespace() || ch == '(')
                    .next()
                    .unwrap_or("")
                    .to_lowercase();
                let ends = spaced
                    && word.chars().count() > 1
                    && !DOTTED_ABBREVIATIONS.contains(&word.as_str());
                (ends, true)
            }
            '!' | '?' | ';' => (spaced, true),
            '-' | '—' | '–' => (spaced && text[..i].ends_with(' '), false),
            ',' => {
                let head = text[..i].trim().to_lowercase();
                let head = head.strip_prefix("good ").unwrap_or(&head);
                (GREETINGS.contains(&head), false)
            }
            _ => (false, false),
        };
        if ends && !inside(i) {
            cuts.push((if kept { next } else { i }, next));
        }
    }
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for (at, after) in cuts
        .into_iter()
        .chain(std::iter::once((text.len(), text.len())))
    {
        let piece = &text[start..at];
        let lead = piece.len() - piece.trim_start().len();
        let trail = piece.len() - piece.trim_end().len();
        if piece.trim().chars().any(char::is_alphanumeric) {
            pieces.push((start + lead, at - trail));
        }
        start = after;
    }
    pieces
}

/// Possessives that stand for a customer ("their invoices", "her plan").
/// Subject pronouns are left out: "they" is as often the customers of a
/// region or a device ("are they still down").
const POSSESSIVES: &[&str] = &["their", "theirs", "his", "her", "hers"];

/// Nouns that, after "that", "this", "the" or "same", point to the
/// customer already talked about ("that account").
const CUSTOMER_NOUNS: &[&str] = &["account", "customer", "client", "subscriber"];

/// Whether `text` points to a person talked about before: a possessive,
/// or "that account", "this customer's", "the same client".
pub fn points_to_a_person(text: &str) -> bool {
    let words = words(text);
    let words: Vec<&str> = words.iter().map(|w| strip_possessive(w)).collect();
    words.iter().any(|w| POSSESSIVES.contains(w))
        || words.windows(2).any(|pair| {
            ["that", "this", "the", "same"].contains(&pair[0]) && CUSTOMER_NOUNS.contains(&pair[1])
        })
}

/// `s` without a possessive ending ("Becker's", "Becker’s", "Jones'") or
/// trailing punctuation.
pub fn strip_possessive(s: &str) -> &str {
    s.trim_end_matches("'s")
        .trim_end_matches("’s")
        .trim_end_matches('\'')
        .trim_end_matches(['?', '!', '.', ',', ':', ';'])
}

/// `one` → 1 ... `twenty` → 20, `thirty`, `forty`, `fifty`, `hundred`.
pub fn number_word(word: &str) -> Option<u32> {
    let n = match word {
        "zero" => 0,
        "one" | "a" | "an" | "single" => 1,
        "two" | "couple" | "pair" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" | "dozen" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        "twenty" => 20,
        "thirty" => 30,
        "forty" => 40,
        "fifty" => 50,
        "hundred" => 100,
        _ => return None,
    };
    Some(n)
}

/// Lower-case words of `text` (letters, digits, inner apostrophes).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| w.trim_matches(['\'', '’']).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A light English stemmer: plural and possessive endings.
pub fn stem(word: &str) -> String {
    let w = word.trim_end_matches("'s").trim_end_matches("’s");
    let n = w.chars().count();
    if n > 4 && w.ends_with("ies") {
        return format!("{}y", &w[..w.len() - 3]);
    }
    if n > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        return w[..w.len() - 1].to_owned();
    }
    w.to_owned()
}

/// Words seen in training (with counts) plus common English words.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    counts: BTreeMap<String, u32>,
    common: BTreeSet<String>,
    /// The trained words by length in characters, with their letter counts:
    /// built on first use, so typo correction looks only at words of a
    /// possible length and skips those whose letters differ too much.
    by_length: std::sync::OnceLock<Vec<Vec<Candidate>>>,
}

/// A trained word as typo correction sees it.
#[derive(Debug, Clone)]
struct Candidate {
    word: String,
    count: u32,
    letters: [u8; 27],
}

/// How often each letter a-z occurs (saturating), everything else in the
/// last slot.
fn letter_counts(word: &str) -> [u8; 27] {
    let mut counts = [0u8; 27];
    for c in word.chars() {
        let slot = if c.is_ascii_lowercase() {
            (c as u8 - b'a') as usize
        } else {
            26
        };
        counts[slot] = counts[slot].saturating_add(1);
    }
    counts
}

impl Vocabulary {
    /// The common-English vocabulary alone.
    pub fn common() -> Self {
        let common: BTreeSet<String> = COMMON.split_whitespace().map(str::to_owned).collect();
        Self {
            counts: BTreeMap::new(),
            common,
            by_length: std::sync::OnceLock::new(),
        }
    }

    /// Learns the words of `texts`. Capitalised words that do not start a
    /// sentence are taken for names and left out, and so is a sentence's
    /// first word when a name-like word (a capital, then lower-case
    /// letters) follows it.
    pub fn learn<'a>(&mut self, texts: impl IntoIterator<Item = &'a str>) {
        let capital = |w: &str| w.chars().next().is_some_and(char::is_uppercase);
        let name_like = |w: &str| {
            capital(w)
                && w.chars().count() > 1
                && w.chars()
                    .skip(1)
                    .all(|c| c.is_lowercase() || c == '\'' || c == '’')
        };
        for text in texts {
            let words = super::entities::words_with_spans(text);
            // The parts of an e-mail address ("lena@novak.example") are
            // names and domains, not vocabulary.
            let addresses: Vec<_> = super::entities::email_spans(text).collect();
            for (i, &(s, _, w)) in words.iter().enumerate() {
                if addresses.iter().any(|a| a.contains(&s)) {
                    continue;
                }
                let has_digit = w.chars().any(|c| c.is_ascii_digit());
                // Capitalised words are names, except the first of a
                // sentence; and even that is a name when a name-like word
                // follows it ("Tom Becker owes ...", not "Show ABC123 ...").
                let name = capital(w)
                    && (i > 0 || words.get(1).is_some_and(|&(_, _, next)| name_like(next)));
                if name || has_digit {
                    continue;
                }
                let lower = w.to_lowercase();
                let lower = lower
                    .trim_end_matches("'s")
                    .trim_end_matches("’s")
                    .to_owned();
                *self.counts.entry(lower).or_default() += 1;
            }
        }
        self.by_length = std::sync::OnceLock::new();
    }

    fn by_length(&self) -> &[Vec<Candidate>] {
        self.by_length.get_or_init(|| {
            let mut buckets: Vec<Vec<Candidate>> = Vec::new();
            for (word, &count) in &self.counts {
                let m = word.chars().count();
                if buckets.len() <= m {
                    buckets.resize_with(m + 1, Vec::new);
                }
                buckets[m].push(Candidate {
                    word: word.clone(),
                    count,
                    letters: letter_counts(word),
                });
            }
            buckets
        })
    }

    /// Whether `word` (lower case) is known.
    pub fn contains(&self, word: &str) -> bool {
        self.counts.contains_key(word) || self.common.contains(word)
    }

    /// Whether `word` is a common English word.
    pub fn is_common(&self, word: &str) -> bool {
        self.common.contains(word)
    }

    /// The known word closest to an unknown `word`, if close enough: one
    /// edit for words of 4-6 letters, two for longer ones, where writing
    /// letters single instead of double or the other way round counts as
    /// one. Ties go to the more frequent word, then the alphabetically
    /// first.
    pub fn correct(&self, word: &str) -> Option<&str> {
        let n = word.chars().count();
        if n < 4 || self.contains(word) || word.chars().any(|c| !c.is_alphabetic()) {
            return None;
        }
        let max = if n >= 7 { 2 } else { 1 };
        let letters = letter_counts(word);
        let buckets = self.by_length();
        let mut best: Option<(usize, u32, &str)> = None;
        for m in n.saturating_sub(max).max(3)..=n + max {
            for c in buckets.get(m).map_or(&[][..], Vec::as_slice) {
                // Each edit changes the letter counts by at most two.
                let differ: usize = letters
                    .iter()
                    .zip(&c.letters)
                    .map(|(a, b)| usize::from(a.abs_diff(*b)))
                    .sum();
                if differ.div_ceil(2) > max {
                    continue;
                }
                let mut d = strsim::damerau_levenshtein(word, &c.word);
                // Doubling a letter or not ("tarrif", "adress") is one
                // slip, however many letters it moves.
                if d > max && same_undoubled(word, &c.word) {
                    d = 1;
                }
                if d == 0 || d > max {
                    continue;
                }
                // Nearer first, then more frequent, then alphabetical.
                let better = match best {
                    None => true,
                    Some((bd, bc, bw)) => {
                        (d, std::cmp::Reverse(c.count), c.word.as_str())
                            < (bd, std::cmp::Reverse(bc), bw)
                    }
                };
                if better {
                    best = Some((d, c.count, c.word.as_str()));
                }
            }
        }
        best.map(|(_, _, w)| w)
    }

    /// How many distinct trained words there are.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether nothing was learned.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// Whether `a` and `b` are the same once every run of one letter is
/// written once ("tarrif" and "tariff" are both "tarif").
fn same_undoubled(a: &str, b: &str) -> bool {
    fn undoubled(s: &str) -> impl Iterator<Item = char> + '_ {
        let mut last = None;
        s.chars().filter(move |&c| last.replace(c) != Some(c))
    }
    undoubled(a).eq(undoubled(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_plurals() {
        assert_eq!(stem("invoices"), "invoice");
        assert_eq!(stem("companies"), "company");
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("address"), "address");
        assert_eq!(stem("smith's"), "smith");
    }

    #[test]
    fn corrects_typos_to_known_words() {
        let mut v = Vocabulary::common();
        v.learn([
            "show invoices for the customer",
            "outstanding balance",
            "Bills of John Smith",
        ]);
        assert_eq!(v.correct("invocies"), Some("invoices"));
        assert_eq!(v.correct("custmer"), Some("customer"));
        assert_eq!(v.correct("outstandng"), Some("outstanding"));
        assert_eq!(v.correct("zebra"), None);
        v.learn(["what tariff is the customer on"]);
        assert_eq!(
            v.correct("tarrif"),
            Some("tariff"),
            "letters doubled and single"
        );
        assert_eq!(v.correct("tarif"), Some("tariff"));
        assert_eq!(
            v.correct("tarrof"),
            None,
            "a doubling slip and another edit"
        );
        assert!(!v.contains("smith"), "capitalised names are not vocabulary");
        assert!(v.contains("bills"));
        v.learn([
            "Tom Becker owes us",
            "Unpaid bills",
            "Ping ABC123 now",
            "Dues I owe",
        ]);
        assert!(!v.contains("tom"), "nor is a name that opens a sentence");
        assert!(v.contains("unpaid"), "an ordinary opening word is");
        assert!(v.contains("ping"), "an account code is not a name");
        assert!(v.contains("dues"), "nor is I");
        v.learn(["change the email to lena@novak.example now"]);
        assert!(
            !v.contains("lena") && !v.contains("novak.example"),
            "nor is an address"
        );
        assert!(v.contains("change") && v.contains("now"));
    }

    #[test]
    fn splits_sentences_but_not_titles_or_entities() {
        let pieces = |text: &str, keep: &[(usize, usize)]| -> Vec<String> {
            sentences(text, keep)
                .into_iter()
                .map(|(s, e)| text[s..e].to_owned())
                .collect()
        };
        assert_eq!(
            pieces("Could you list the invoices? She says one is missing.", &[]),
            ["Could you list the invoices?", "She says one is missing."]
        );
        assert_eq!(
            pieces("Hi, which plan is Mr. Smith on", &[]),
            ["Hi", "which plan is Mr. Smith on"]
        );
        assert_eq!(
            pieces("open a ticket for ABC123 - no sync since 9am", &[]),
            ["open a ticket for ABC123", "no sync since 9am"]
        );
        assert_eq!(
            pieces("status of olt-north-01", &[]),
            ["status of olt-north-01"]
        );
        // A boundary inside an entity (here a made-up span) is not one.
        assert_eq!(
            pieces("ask A. Smith. now", &[(4, 13)]),
            ["ask A. Smith. now"]
        );
        assert_eq!(pieces("ask A. Smith. now", &[]), ["ask A. Smith.", "now"]);
        assert!(pieces(" ?! ", &[]).is_empty());
    }

    #[test]
    fn tells_words_that_point_to_a_person() {
        assert!(points_to_a_person("and their invoices?"));
        assert!(points_to_a_person("any unpaid bills on that account"));
        assert!(points_to_a_person("what plan is that account’s owner on"));
        assert!(!points_to_a_person("are they still down"));
        assert!(!points_to_a_person("any outages in the north"));
        assert!(!points_to_a_person("thanks, that's all"));
    }

    #[test]
    fn shorthand_is_sorted_and_expands() {
        assert!(SHORTHAND.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(expand_shorthand("pmt"), Some(&["payment"][..]));
        assert_eq!(
            expand_shorthand("mrr"),
            Some(&["monthly", "recurring", "revenue"][..])
        );
        assert_eq!(expand_shorthand("payment"), None);
    }

    #[test]
    fn reads_number_words() {
        assert_eq!(number_word("ten"), Some(10));
        assert_eq!(number_word("cat"), None);
    }
}
