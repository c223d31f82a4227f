//! Deployment training data: the `[nlu] training_files` of the admin TOML
//! add utterances to registered intents, so the NLU learns the phrasing of
//! a deployment's own agents.
//!
//! Two formats, chosen by extension:
//! - `.jsonl` / `.json`: one `{"text": ..., "intent": ...}` object a line
//!   (the format of `switchboard nlu --export-training` and `nlu-bench`);
//!   blank lines and lines starting with `#` or `//` are skipped.
//! - `.yml` / `.yaml`: the NLU part of a Rasa training file, as Rasa users
//!   already have it: `nlu:` items of the form `- intent: NAME` with an
//!   `examples: |` block of `- utterance` lines. Entity annotations
//!   (`[ABC123](customer)`, `[x]{"entity": "customer"}`) are reduced to
//!   their text; `synonym`, `regex` and `lookup` items and the other
//!   top-level keys (`version`, `rules`, `stories`, ...) are ignored.
//!
//! Every utterance keeps its file and line, so an unknown intent is
//! reported where it was written.

use std::path::Path;

use super::TrainingExample;

/// One utterance and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedExample {
    /// The utterance and its intent.
    pub example: TrainingExample,
    /// The file it was read from.
    pub file: String,
    /// Its 1-based line.
    pub line: usize,
}

/// A training file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrainingDataError {
    /// The file could not be read.
    #[error("NLU training file {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file's extension names no known format.
    #[error(
        "NLU training file {file}: unknown format (use .jsonl for JSON lines or .yml/.yaml for Rasa NLU data)"
    )]
    Format {
        /// The file.
        file: String,
    },
    /// The file holds no utterance at all (for YAML: no `nlu:` section
    /// with `- intent:` items and `examples: |` blocks).
    #[error("NLU training file {file}: no training utterances found")]
    Empty {
        /// The file.
        file: String,
    },
    /// A line is malformed.
    #[error("{file}:{line}: {message}")]
    Line {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An utterance names an intent no plugin registered.
    #[error("{file}:{line}: intent `{intent}` is not registered by any loaded plugin")]
    UnknownIntent {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// The intent.
        intent: String,
    },
}

/// Reads one training file, its format chosen by extension.
pub fn read_file(path: &Path) -> Result<Vec<SourcedExample>, TrainingDataError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TrainingDataError::Read {
        file: file.clone(),
        source,
    })?;
    let examples = match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "json") => parse_jsonl(&text, &file)?,
        Some("yml" | "yaml") => parse_rasa(&text, &file)?,
        _ => return Err(TrainingDataError::Format { file }),
    };
    if examples.is_empty() {
        return Err(TrainingDataError::Empty { file });
    }
    Ok(examples)
}

/// Checks that every example's intent is known.
pub fn check_intents(
    examples: &[SourcedExample],
    known: impl Fn(&str) -> bool,
) -> Result<(), TrainingDataError> {
    match examples.iter().find(|e| !known(&e.example.intent)) {
        Some(e) => Err(TrainingDataError::UnknownIntent {
            file: e.file.clone(),
            line: e.line,
            intent: e.example.intent.clone(),
        }),
        None => Ok(()),
    }
}

/// Parses JSON lines of `{"text", "intent"}`.
pub fn parse_jsonl(text: &str, file: &str) -> Result<Vec<SourcedExample>, TrainingDataError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let bad = |message: String| TrainingDataError::Line {
            file: file.to_owned(),
            line: i + 1,
            message,
        };
        let example: TrainingExample = serde_json::from_str(line)
            .map_err(|e| bad(format!("expected {{\"text\": ..., \"intent\": ...}}: {e}")))?;
        if example.text.trim().is_empty() {
            return Err(bad("empty `text`".to_owned()));
        }
        out.push(SourcedExample {
            example,
            file: file.to_owned(),
            line: i + 1,
        });
    }
    Ok(out)
}

/// The indentation of a line, in characters.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Strips surrounding quotes from a YAML scalar.
fn unquote(value: &str) -> &str {
    let v = value.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// A YAML line without its trailing ` # comment` (a `#` inside a word or
/// right after a non-space is kept, as YAML does).
fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #") {
        Some(at) => &line[..at],
        None => line,
    }
}

/// Reduces Rasa entity annotations to their text: `[ABC123](customer)`,
/// `[ABC123]{"entity": "customer"}` and `[north](region:north)` all become
/// the bracketed words.
pub fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let tail = &after[close + 1..];
        let end = match tail.chars().next() {
            Some('(') => tail.find(')').map(|e| e + 1),
            Some('{') => tail.find('}').map(|e| e + 1),
            _ => None,
        };
        match end {
            Some(end) => {
                out.push_str(&rest[..open]);
                out.push_str(&after[..close]);
                rest = &tail[end..];
            }
            None => {
                out.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses the `nlu:` section of a Rasa YAML training file.
pub fn parse_rasa(text: &str, file: &str) -> Result<Vec<SourcedExample>, TrainingDataError> {
    let bad = |line: usize, message: &str| TrainingDataError::Line {
        file: file.to_owned(),
        line,
        message: message.to_owned(),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut in_nlu = false;
    let mut intent: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let raw = strip_comment(lines[i]);
        let line_no = i + 1;
        let trimmed = raw.trim();
        i += 1;
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if indent(raw) == 0 && !trimmed.starts_with('-') {
            // A top-level key.
            in_nlu = trimmed == "nlu:";
            intent = None;
            continue;
        }
        if !in_nlu {
            continue;
        }
        let item = trimmed.strip_prefix("- ").map(str::trim_start);
        let entry = item.unwrap_or(trimmed);
        if item.is_some() {
            // A new item of the `nlu:` list: only `intent` items are read.
            intent = None;
        }
        if let Some(name) = entry.strip_prefix("intent:") {
            let name = unquote(name);
            if name.is_empty() {
                return Err(bad(line_no, "`intent:` without a name"));
            }
            intent = Some(name.to_owned());
        } else if let Some(style) = entry.strip_prefix("examples:") {
            let Some(name) = intent.clone() else {
                // Examples of a synonym, regex or lookup item.
                continue;
            };
            let style = style.trim();
            if !style.starts_with('|') && !style.starts_with('>') {
                return Err(bad(
                    line_no,
                    "`examples:` must be a block (`examples: |`) of `- utterance` lines",
                ));
            }
            let own = indent(raw);
            while i < lines.len() {
                let ex = lines[i];
                if !ex.trim().is_empty() && indent(ex) <= own {
                    break;
                }
                i += 1;
                let t = ex.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let Some(utterance) = t.strip_prefix('-') else {
                    return Err(bad(i, "an example must start with `- `"));
                };
                let utterance = strip_annotations(utterance.trim());
                if utterance.trim().is_empty() {
                    return Err(bad(i, "empty example"));
                }
                out.push(SourcedExample {
                    example: TrainingExample {
                        text: utterance.trim().to_owned(),
                        intent: name.clone(),
                    },
                    file: file.to_owned(),
                    line: i,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rasa_nlu_data_with_lines_and_annotations() {
        let yaml = r#"version: "3.1"
nlu:  # our agents' phrasings
- intent: billing.balance  # the balance intent
  examples: |
    - what does [ABC123](customer) owe
    - balance of [KLM204]{"entity": "customer"} please

- synonym: north
  examples: |
    - northern
- intent: "monitoring.outages"
  examples: |-
    # a comment
    - anything down in the [north](region)? ticket #5
rules:
- rule: greet
  steps:
  - intent: greet
"#;
        let got = parse_rasa(yaml, "f.yml").unwrap();
        let seen: Vec<(&str, &str, usize)> = got
            .iter()
            .map(|e| (e.example.text.as_str(), e.example.intent.as_str(), e.line))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("what does ABC123 owe", "billing.balance", 5),
                ("balance of KLM204 please", "billing.balance", 6),
                (
                    "anything down in the north? ticket #5",
                    "monitoring.outages",
                    14
                ),
            ]
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = parse_jsonl(
            "{\"text\": \"a\", \"intent\": \"x\"}\n\n{\"text\": 1}\n",
            "t.jsonl",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("t.jsonl:3: "), "{err}");
        let err = parse_rasa("nlu:\n- intent: x\n  examples: |\n    oops\n", "t.yml").unwrap_err();
        assert!(err.to_string().starts_with("t.yml:4: "), "{err}");
    }

    #[test]
    fn an_unknown_intent_names_file_and_line() {
        let examples = parse_jsonl(
            "{\"text\": \"a\", \"intent\": \"known\"}\n{\"text\": \"b\", \"intent\": \"nope\"}\n",
            "t.jsonl",
        )
        .unwrap();
        let err = check_intents(&examples, |i| i == "known").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.jsonl:2: intent `nope` is not registered by any loaded plugin"
        );
    }

    #[test]
    fn strips_annotations_but_keeps_plain_brackets() {
        assert_eq!(strip_annotations("[a](b) and [c]"), "a and [c]");
        assert_eq!(strip_annotations("no [close"), "no [close");
    }
}
