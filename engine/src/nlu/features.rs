//! Features: a text becomes a sparse vector of word unigrams and bigrams
//! (entities replaced by slot tokens such as `__account__`, shorthand such
//! as `pmt` spelt out, typos corrected, plurals stemmed) and character
//! n-grams of each word (which keeps misspelt words close to their correct
//! forms), weighted by TF-IDF and L2-normalised per group; then, when the
//! built-in embeddings are on, the text's dense sentence vector (see
//! [`super::embedding`]).

use std::collections::{BTreeMap, HashMap};

use super::embedding::Embeddings;
use super::entities::Entity;
use super::text::{Vocabulary, stem};

/// A sparse vector: (feature index, value), indices ascending.
pub type Sparse = Vec<(u32, f32)>;

/// Feature settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureSettings {
    /// Smallest character n-gram.
    pub char_min: usize,
    /// Largest character n-gram.
    pub char_max: usize,
    /// Weight of the character group relative to the word group.
    pub char_weight: f32,
    /// Whether to add word bigrams.
    pub bigrams: bool,
    /// Features seen in fewer training texts are dropped.
    pub min_df: u32,
    /// Character n-grams come from the words as written (typos
    /// corrected) rather than from their stems.
    pub chars_from_surface: bool,
    /// Whether to add word trigrams.
    pub trigrams: bool,
    /// Weight of the dense sentence vector (its L2 norm) relative to the
    /// word group; 0 leaves it out.
    pub embedding_weight: f32,
    /// How many of the table's dimensions to use (its leading principal
    /// components); fewer train faster.
    pub embedding_dims: usize,
}

impl Default for FeatureSettings {
    fn default() -> Self {
        Self {
            char_min: 2,
            char_max: 5,
            char_weight: 0.6,
            bigrams: true,
            min_df: 1,
            chars_from_surface: true,
            trigrams: false,
            embedding_weight: 1.0,
            embedding_dims: 128,
        }
    }
}

/// The slot token an entity's words are replaced by in features.
fn slot(name: &str) -> Option<&'static str> {
    Some(match name {
        "customer" => "__account__",
        "customer_name" => "__name__",
        "invoice" => "__invoice__",
        "ticket" => "__ticket__",
        "device" => "__device__",
        "email" => "__email__",
        "phone" => "__phone__",
        "region" => "__region__",
        "min_amount" => "__amount__",
        _ => return None,
    })
}

/// One analysed word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Its stem, or a slot such as `__account__` or `__number__`.
    pub stem: String,
    /// The word as written, lower-cased, shorthand spelt out and
    /// typo-corrected (the slot for slots).
    pub surface: String,
}

impl Token {
    fn slot(token: &str) -> Self {
        Self {
            stem: token.to_owned(),
            surface: token.to_owned(),
        }
    }

    fn is_slot(&self) -> bool {
        self.stem.starts_with("__")
    }
}

/// The analysed words of a text: entities as slots, shorthand spelt out,
/// typos corrected, stems.
pub fn analyse(text: &str, entities: &[Entity], vocabulary: &Vocabulary) -> Vec<Token> {
    let mut out = Vec::new();
    let mut cursor = 0;
    let mut spans: Vec<(usize, usize, &'static str)> = entities
        .iter()
        .filter_map(|e| slot(e.name).map(|s| (e.span.0, e.span.1, s)))
        .collect();
    spans.sort_unstable();
    let push_words = |piece: &str, out: &mut Vec<Token>| {
        let mut expanded = Vec::new();
        for w in super::text::words(piece) {
            match super::text::expand_shorthand(&w) {
                Some(full) => expanded.extend(full.iter().map(|f| (*f).to_owned())),
                None => expanded.push(w),
            }
        }
        for w in expanded {
            if ["please", "pls", "plz", "kindly"].contains(&w.as_str()) {
                continue;
            }
            let w = match vocabulary.correct(&w) {
                Some(fixed) => fixed.to_owned(),
                None => w,
            };
            if w.chars().all(|c| c.is_ascii_digit()) {
                out.push(Token::slot("__number__"));
            } else {
                out.push(Token {
                    stem: stem(&w),
                    surface: w,
                });
            }
        }
    };
    for (s, e, token) in spans {
        if s < cursor {
            continue;
        }
        push_words(&text[cursor..s], &mut out);
        out.push(Token::slot(token));
        cursor = e;
    }
    push_words(&text[cursor.min(text.len())..], &mut out);
    out
}

fn raw_features(tokens: &[Token], settings: &FeatureSettings) -> (Vec<String>, Vec<String>) {
    let mut word_feats = Vec::with_capacity(tokens.len() * 3);
    let mut char_feats = Vec::new();
    each_feature(tokens, settings, |feature, is_char| {
        if is_char {
            char_feats.push(feature.to_owned());
        } else {
            word_feats.push(feature.to_owned());
        }
    });
    (word_feats, char_feats)
}

/// Calls `visit` with each n-gram feature of `tokens` (word features
/// first, then character ones, flagged `true`), built in one reused buffer:
/// predicting looks features up without allocating one string per n-gram.
fn each_feature(tokens: &[Token], settings: &FeatureSettings, mut visit: impl FnMut(&str, bool)) {
    use std::fmt::Write;
    let mut buf = String::with_capacity(64);
    let at = |i: isize| -> &str {
        if i < 0 {
            "<s>"
        } else {
            tokens.get(i as usize).map_or("</s>", |t| t.stem.as_str())
        }
    };
    // Writing to a `String` cannot fail.
    let mut emit = |buf: &mut String, parts: std::fmt::Arguments<'_>, is_char: bool| {
        buf.clear();
        let _ = buf.write_fmt(parts);
        visit(buf, is_char);
    };
    for (i, t) in tokens.iter().enumerate() {
        let w = t.stem.as_str();
        emit(&mut buf, format_args!("w:{w}"), false);
        let i = i as isize;
        if settings.bigrams {
            emit(&mut buf, format_args!("b:{} {w}", at(i - 1)), false);
        }
        if settings.trigrams && tokens.len() > 1 {
            emit(
                &mut buf,
                format_args!("t:{} {} {w}", at(i - 2), at(i - 1)),
                false,
            );
        }
    }
    if settings.bigrams
        && let Some(last) = tokens.last()
    {
        emit(&mut buf, format_args!("b:{} </s>", last.stem), false);
    }
    let mut padded: Vec<char> = Vec::new();
    for t in tokens.iter().filter(|t| !t.is_slot()) {
        let w = if settings.chars_from_surface {
            &t.surface
        } else {
            &t.stem
        };
        padded.clear();
        padded.push('<');
        padded.extend(w.chars());
        padded.push('>');
        for n in settings.char_min..=settings.char_max {
            if padded.len() < n {
                break;
            }
            for win in padded.windows(n) {
                buf.clear();
                buf.push_str("c:");
                buf.extend(win);
                visit(&buf, true);
            }
        }
    }
}

/// The dense part of the features: the IDF-weighted mean of the word
/// pieces' embeddings, at feature indices after the sparse ones.
#[derive(Debug, Clone)]
struct Dense {
    table: &'static Embeddings,
    /// IDF of each piece seen in training.
    idf: HashMap<u32, f32>,
    /// IDF of a piece never seen in training (the largest).
    unseen: f32,
    /// Index of the first dense feature.
    offset: u32,
    /// Dimensions used (a prefix of the table's).
    dims: usize,
}

impl Dense {
    fn pieces(&self, tokens: &[Token]) -> Vec<u32> {
        let mut out = Vec::with_capacity(tokens.len() * 2);
        for t in tokens.iter().filter(|t| !t.is_slot()) {
            self.table.pieces(&t.surface, &mut out);
        }
        out
    }

    fn fit(table: &'static Embeddings, docs: &[Vec<Token>], offset: u32, dims: usize) -> Self {
        let mut dense = Self {
            table,
            idf: HashMap::new(),
            unseen: 0.0,
            offset,
            dims: dims.clamp(1, table.dims()),
        };
        let mut df: HashMap<u32, u32> = HashMap::new();
        for doc in docs {
            let mut seen = dense.pieces(doc);
            seen.sort_unstable();
            seen.dedup();
            for p in seen {
                *df.entry(p).or_default() += 1;
            }
        }
        let n = docs.len().max(1) as f32;
        dense.idf = df
            .into_iter()
            .map(|(p, count)| (p, ((1.0 + n) / (1.0 + count as f32)).ln() + 1.0))
            .collect();
        dense.unseen = (1.0 + n).ln() + 1.0;
        dense
    }

    /// Appends the text's unit-length sentence vector times `weight`.
    fn append(&self, tokens: &[Token], weight: f32, out: &mut Sparse) {
        let pieces = self.pieces(tokens);
        if pieces.is_empty() {
            return;
        }
        // `add` fills as many leading dimensions as `sum` has.
        let mut sum = vec![0.0f32; self.dims];
        for p in pieces {
            let idf = self.idf.get(&p).copied().unwrap_or(self.unseen);
            self.table.add(p, idf, &mut sum);
        }
        let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.extend(
                sum.iter()
                    .enumerate()
                    .map(|(i, v)| (self.offset + i as u32, v / norm * weight)),
            );
        }
    }
}

/// A fitted TF-IDF vectoriser.
#[derive(Debug, Clone)]
pub struct Featurizer {
    settings: FeatureSettings,
    index: HashMap<String, u32>,
    idf: Vec<f32>,
    is_char: Vec<bool>,
    dense: Option<Dense>,
}

impl Featurizer {
    /// Fits the vocabulary and IDF on analysed training texts.
    pub fn fit(docs: &[Vec<Token>], settings: FeatureSettings) -> Self {
        let mut df: BTreeMap<String, u32> = BTreeMap::new();
        for doc in docs {
            let (w, c) = raw_features(doc, &settings);
            let mut seen: Vec<String> = w.into_iter().chain(c).collect();
            seen.sort_unstable();
            seen.dedup();
            for f in seen {
                *df.entry(f).or_default() += 1;
            }
        }
        let n = docs.len().max(1) as f32;
        let mut index = HashMap::new();
        let mut idf = Vec::new();
        let mut is_char = Vec::new();
        for (feature, count) in df {
            if count < settings.min_df {
                continue;
            }
            is_char.push(feature.starts_with("c:"));
            index.insert(feature, idf.len() as u32);
            idf.push(((1.0 + n) / (1.0 + count as f32)).ln() + 1.0);
        }
        let dense = Embeddings::builtin()
            .filter(|_| settings.embedding_weight > 0.0)
            .map(|table| Dense::fit(table, docs, idf.len() as u32, settings.embedding_dims));
        Self {
            settings,
            index,
            idf,
            is_char,
            dense,
        }
    }

    /// How many features there are.
    pub fn len(&self) -> usize {
        self.idf.len() + self.dense.as_ref().map_or(0, |d| d.dims)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The TF-IDF vector of an analysed text.
    pub fn transform(&self, words: &[Token]) -> Sparse {
        let mut tf: BTreeMap<u32, f32> = BTreeMap::new();
        each_feature(words, &self.settings, |f, _| {
            if let Some(&i) = self.index.get(f) {
                *tf.entry(i).or_default() += 1.0;
            }
        });
        let mut vec: Sparse = tf
            .into_iter()
            .map(|(i, count)| (i, (1.0 + count.ln()) * self.idf[i as usize]))
            .collect();
        // L2-normalise each group, then weight the character group.
        for char_group in [false, true] {
            let norm: f32 = vec
                .iter()
                .filter(|(i, _)| self.is_char[*i as usize] == char_group)
                .map(|(_, v)| v * v)
                .sum::<f32>()
                .sqrt();
            if norm > 0.0 {
                let weight = if char_group {
                    self.settings.char_weight
                } else {
                    1.0
                };
                for (i, v) in &mut vec {
                    if self.is_char[*i as usize] == char_group {
                        *v = *v / norm * weight;
                    }
                }
            }
        }
        // Only a text with some known n-gram gets its dense part: one made
        // only of unknown words stays empty, which reads as out of scope.
        if let Some(dense) = &self.dense
            && !vec.is_empty()
        {
            dense.append(words, self.settings.embedding_weight, &mut vec);
        }
        vec
    }
}
