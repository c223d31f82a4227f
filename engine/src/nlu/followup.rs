//! Follow-ups, as the intent catalogue defines them: earlier queries of the
//! conversation supply entities that the new text leaves out and that its
//! intent takes (the newest mention wins; the new text always wins). The
//! intent is the new text's when it asks for something; when it only swaps
//! a detail ("what about the south?", "and for KLM204?", "only the urgent
//! ones") the newest previous query's intent carries over if it can use
//! what the text names, or if no intent can. Otherwise the text is a new
//! question about that detail rather than a swap: the one intent that can
//! use it, or the best ranked of several, answers it. A closing remark is
//! `none` whatever came before.

use super::entities::{Entity, words_with_spans};
use super::{Interpretation, Nlu};
use crate::registry::NONE_INTENT;

/// Words that carry no request of their own.
const FUNCTION_WORDS: &[&str] = &[
    "and", "what", "about", "how", "for", "the", "same", "only", "just", "ones", "one", "also",
    "too", "then", "in", "on", "at", "region", "area", "please", "those", "these", "that", "this",
    "with", "of", "a", "an", "now", "instead", "again", "but", "or", "so", "ok", "okay", "well",
    "same", "thing", "do", "does", "is", "are", "there", "any", "ones", "customer", "account",
    "client", "priority", "status", "them", "it", "with", "from", "to", "by", "let's", "lets",
    "try", "check", "show", "me", "all", "is", "was", "pls", "plz", "kindly",
];

/// Whether `text` only swaps a detail: it names at least one entity and,
/// once those are removed, has no word of its own.
fn swaps_a_detail(text: &str, entities: &[Entity]) -> bool {
    let scored: Vec<&Entity> = entities.iter().filter(|e| e.name != "subject").collect();
    if scored.is_empty() {
        return false;
    }
    words_with_spans(text).into_iter().all(|(s, e, w)| {
        let lower = w.to_lowercase();
        scored.iter().any(|en| s >= en.span.0 && e <= en.span.1)
            || FUNCTION_WORDS.contains(&lower.as_str())
    })
}

/// Resolves `text` against `history` (oldest first).
pub fn resolve(nlu: &Nlu, text: &str, history: &[String]) -> Interpretation {
    // Each earlier query is itself resolved against the ones before it.
    let mut previous: Vec<Interpretation> = Vec::with_capacity(history.len());
    for (i, h) in history.iter().enumerate() {
        let earlier = resolve_one(nlu, h, &previous[..i]);
        previous.push(earlier);
    }
    resolve_one(nlu, text, &previous)
}

fn resolve_one(nlu: &Nlu, text: &str, previous: &[Interpretation]) -> Interpretation {
    let Some(last) = previous.iter().rev().find(|p| p.intent != NONE_INTENT) else {
        return nlu.interpret_single(text);
    };
    let own = nlu.extract(text);
    // What the conversation can supply.
    let available: Vec<&str> = previous
        .iter()
        .flat_map(|p| p.entities.keys().map(String::as_str))
        .collect();
    let mut result = nlu.interpret_with_context(text, &available);
    // The intent a detail swap goes on with: the previous one if it can
    // use what the text names (or if no intent can); otherwise the only
    // intent that can ("what about INV-2025-001?" after a balance question
    // asks about the invoice, not the balance again), or the best ranked
    // of several.
    let uses_named = |intent: &str| {
        nlu.schema(intent).is_some_and(|schema| {
            own.iter()
                .any(|e| e.name != "subject" && schema.takes(e.name))
        })
    };
    // With the intent, the confidence it is chosen with: the conversation
    // settles a carried or only possible intent; a pick among several is as
    // sure as the classifier is (so a weak one gets the "not sure" answer).
    let settled = result.confidence.max(last.confidence.min(0.9));
    let swapped_to = if !swaps_a_detail(text, &own) {
        None
    } else if uses_named(&last.intent) {
        Some((last.intent.clone(), settled))
    } else {
        let mut users = nlu.intents().iter().filter(|i| uses_named(i));
        match (users.next(), users.next()) {
            (None, _) => Some((last.intent.clone(), settled)),
            (Some(only), None) => Some((only.clone(), settled)),
            (Some(_), Some(_)) => std::iter::once((&result.intent, result.confidence))
                .chain(result.alternatives.iter().map(|(i, p)| (i, *p)))
                .find(|(i, _)| uses_named(i))
                .map(|(i, p)| (i.clone(), p)),
        }
    };
    let Some((intent, confidence)) = swapped_to else {
        if result.intent == NONE_INTENT {
            // A closing remark (or a detail none of the text's likely
            // intents uses).
            return result;
        }
        return complete_from_history(nlu, result, previous);
    };
    result.carried_intent = intent == last.intent && result.intent != intent;
    result.alternatives.retain(|(i, _)| *i != intent);
    // The text's own best reading stays among the alternatives.
    if result.intent != intent && result.intent != NONE_INTENT {
        let own_best = (result.intent.clone(), result.confidence);
        result.alternatives.insert(0, own_best);
    }
    result.confidence = confidence;
    result.entities = nlu.keep_for(&intent, &own);
    result.intent = intent;
    complete_from_history(nlu, result, previous)
}

/// Fills in, from the earlier queries, the entities `result`'s intent
/// takes and its text leaves out.
fn complete_from_history(
    nlu: &Nlu,
    mut result: Interpretation,
    previous: &[Interpretation],
) -> Interpretation {
    let Some(schema) = nlu.schema(&result.intent).cloned() else {
        return result;
    };
    // Required groups the new text leaves unsatisfied: take the newest
    // earlier query that names any entity of the group.
    for group in &schema.required {
        if group.iter().any(|e| result.entities.contains_key(e)) {
            continue;
        }
        if let Some((name, value)) = previous.iter().rev().find_map(|p| {
            group
                .iter()
                .find_map(|g| p.entities.get(g).map(|v| (g.clone(), v.clone())))
        }) {
            result.entities.insert(name.clone(), value);
            result.from_history.push(name);
        }
    }
    // So do the optional entities the intent takes ("any outages there?"
    // after a question about the central region asks about the central
    // region), the newest mention first.
    for name in &schema.optional {
        if name == "subject" {
            continue;
        }
        // customer and customer_name are alternatives: the newest earlier
        // query that names either supplies it, and neither is added when
        // the other is there.
        let group: &[&str] = match name.as_str() {
            "customer" | "customer_name" => &["customer", "customer_name"],
            other => &[other],
        };
        if group.iter().any(|g| result.entities.contains_key(*g)) {
            continue;
        }
        if let Some((name, value)) = previous.iter().rev().find_map(|p| {
            group
                .iter()
                .filter(|g| schema.takes(g))
                .find_map(|g| p.entities.get(*g).map(|v| ((*g).to_owned(), v.clone())))
        }) {
            result.entities.insert(name.clone(), value);
            result.from_history.push(name);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_swaps_are_recognised() {
        let e = |name, s, e| Entity {
            name,
            value: String::new(),
            span: (s, e),
        };
        assert!(swaps_a_detail(
            "what about the south?",
            &[e("region", 15, 20)]
        ));
        assert!(swaps_a_detail("and for KLM204?", &[e("customer", 8, 14)]));
        assert!(!swaps_a_detail("and their invoices?", &[]));
        assert!(!swaps_a_detail("thanks, that's all", &[]));
        assert!(!swaps_a_detail(
            "show invoices for KLM204",
            &[e("customer", 18, 24)]
        ));
    }
}
