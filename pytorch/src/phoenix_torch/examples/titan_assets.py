"""Offline assets for TorchTitan's ``llama3_debugmodel``: the wheel on PyPI ships neither the test
tokenizer (``./tests/assets/tokenizer``) nor the ``c4_test`` dataset (``./tests/assets/c4_test``) that
the debug config points at, and a cluster pod may have no internet. This writes a small word-level
tokenizer (vocabulary < 2048, the debug model's) and a seeded synthetic text corpus in those layouts:

    python -m phoenix_torch.examples.titan_assets <dir>     # creates <dir>/tests/assets/{tokenizer,c4_test}

then run TorchTitan with ``<dir>`` as its working directory.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

WORDS = 1500


def vocabulary() -> list[str]:
    rng = random.Random(1234)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < WORDS:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 7))))
    return sorted(words)


def write(root: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    assets = root / "tests" / "assets"
    tok_dir = assets / "tokenizer"
    data_dir = assets / "c4_test"
    tok_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    words = vocabulary()
    specials = ["<unk>", "<|begin_of_text|>", "<|end_of_text|>"]
    vocab = {w: i for i, w in enumerate(specials + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials)
    tok.save(str(tok_dir / "tokenizer.json"))
    (tok_dir / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "add_bos_token": True,
        "add_eos_token": True, "model_max_length": 1 << 20, "tokenizer_class": "PreTrainedTokenizerFast"}))
    rng = random.Random(42)
    with open(data_dir / "data.json", "w") as f:
        for _ in range(2000):
            f.write(json.dumps({"text": " ".join(rng.choice(words) for _ in range(rng.randint(50, 300)))}) + "\n")
    return assets


if __name__ == "__main__":
    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
