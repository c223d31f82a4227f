#!/usr/bin/env python3
"""Compares the embedded NLU with a scikit-learn baseline on an evaluation
file (intent accuracy only).

The baseline is TF-IDF (word 1-2 grams + char 2-5 grams) + LinearSVC,
trained on exactly the utterances our NLU trains on
(`switchboard nlu --export-training`). Ours is scored with
`switchboard eval --json`. Follow-up cases (with history) are given to the
baseline as bare text, as it has no notion of conversation.

Usage: scripts/compare_sklearn.py [EVAL.jsonl] [--switchboard PATH]
Needs: pip install scikit-learn
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval", nargs="?", default=str(ROOT / "tests/data/nlu-dev.jsonl"))
    parser.add_argument("--switchboard", default=str(ROOT / "target/release/switchboard"))
    args = parser.parse_args()
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion, make_pipeline
        from sklearn.svm import LinearSVC
    except ImportError:
        print("needs scikit-learn: pip install scikit-learn", file=sys.stderr)
        return 2

    exported = subprocess.run(
        [args.switchboard, "nlu", "--export-training"], check=True, capture_output=True, text=True
    ).stdout
    train = [json.loads(line) for line in exported.splitlines() if line.strip()]
    cases = [json.loads(line) for line in Path(args.eval).read_text().splitlines() if line.strip()]

    features = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
    ])
    model = make_pipeline(features, LinearSVC(C=1.0))
    model.fit([t["text"] for t in train], [t["intent"] for t in train])
    predicted = model.predict([c["text"] for c in cases])
    baseline = sum(p == c["intent"] for p, c in zip(predicted, cases)) / len(cases)
    single = [i for i, c in enumerate(cases) if not c.get("history")]
    baseline_single = sum(predicted[i] == cases[i]["intent"] for i in single) / max(1, len(single))

    ours = json.loads(
        subprocess.run(
            [args.switchboard, "eval", "--json", args.eval], check=True, capture_output=True, text=True
        ).stdout
    )
    print(f"evaluation file: {args.eval} ({len(cases)} cases, {len(single)} without history)")
    print(f"training utterances: {len(train)}")
    print(f"scikit-learn TF-IDF + LinearSVC intent accuracy: {baseline:.3f} (single-turn cases: {baseline_single:.3f})")
    print(f"switchboard embedded NLU intent accuracy:        {ours['intent_accuracy']:.3f} (entity F1 {ours['entity_f1']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
