"""Text corpora for character language modelling: tinyshakespeare, as nanoGPT's shakespeare_char prepares it.

The vocabulary is the sorted set of the text's characters; each character is one token. The first 90% of the
text is the training split, the last 10% the held-out split that plays the test split's role (nanoGPT calls it
"val"). A case sees the corpus as windows of its `context` (`TextCorpus.for_case`):

    training    every window start of the training split: x = text[i : i + context], y = text[i + 1 : i + 1 + context],
                drawn in a seeded random order (nanoGPT's get_batch draws random windows the same way)
    held-out    consecutive non-overlapping windows covering the held-out split (every character predicted once),
                or `eval_batches` batches of them spread evenly over it: the same windows at every evaluation

The training windows are a strided view of the token stream (Tensor.unfold), never copied as a whole.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from suite.plumbing.errors import ConfigError
from suite.workloads.dataset import Dataset, evenly_spaced

TEXT_DATASETS = {
    "tinyshakespeare": "character LM on tinyshakespeare/input.txt in --data-dir (1,115,394 characters, 65 distinct): "
    "first 90% train, last 10% held out (nanoGPT's shakespeare_char)",
    "random-tokens": "seeded uniform token ids over GPT-2's padded vocabulary (50,304), no download: 2**20 train / "
    "2**16 held-out tokens, for throughput only (loss stays at ln 50,304)",
}
FILES = {"tinyshakespeare": "input.txt"}
TASK = "language-modelling"  # suite.workloads.data.Dataset.task of the windows
GPT2_VOCAB = 50_304  # nanoGPT model.py: GPT-2's 50,257 padded up to the nearest multiple of 64 for efficiency
TRAIN_FRACTION = 0.9  # nanoGPT's data/shakespeare_char/prepare.py: train_data = data[:int(n * 0.9)]


@dataclass(frozen=True)
class TextCorpus:
    """A tokenized text: the vocabulary (its characters, sorted) and the token ids of the two splits."""

    name: str
    vocab: str
    train_tokens: torch.Tensor  # int64, 1-D
    test_tokens: torch.Tensor
    source: str = ""  # the file it was read from
    vocab_size: int | None = None  # token ids without characters (random-tokens); None: len(vocab)

    @property
    def num_classes(self) -> int:
        """The vocabulary size: the classes of each next-token prediction."""
        return len(self.vocab) if self.vocab_size is None else self.vocab_size

    def to(self, device: torch.device) -> TextCorpus:
        """The same corpus with its token streams on `device`."""
        return dataclasses.replace(self, train_tokens=self.train_tokens.to(device),
                                   test_tokens=self.test_tokens.to(device))

    def validation_split(self, fraction: float) -> TextCorpus:
        """The training split cut in two: its first part for training, its last `fraction` as the held-out split
        (contiguous, so no training window overlaps a held-out one). The test split is not carried over."""
        cut = int(len(self.train_tokens) * (1 - fraction))
        return dataclasses.replace(self, train_tokens=self.train_tokens[:cut], test_tokens=self.train_tokens[cut:])

    def for_case(self, case):
        """The corpus as a Dataset of windows of the case's context (see the module docstring)."""
        context = case.context
        for split, tokens in (("training", self.train_tokens), ("held-out", self.test_tokens)):
            if len(tokens) < context + 1:
                raise ConfigError(f"{self.source or self.name}: its {split} split has {len(tokens)} characters, too "
                                  f"short for one window of context {context} (needs {context + 1})")
        x_train, y_train = (t.unfold(0, context, 1) for t in (self.train_tokens[:-1], self.train_tokens[1:]))
        count = (len(self.test_tokens) - 1) // context
        x_test, y_test = (t[: count * context].view(count, context)
                          for t in (self.test_tokens[:-1], self.test_tokens[1:]))
        keep = evenly_spaced(count, case.eval_batches, case.batch_size).to(x_test.device)
        return Dataset(self.name, x_train, y_train, x_test[keep], y_test[keep], self.num_classes, TASK)


def text_path(name: str, data_dir: Path | None) -> Path:
    """The corpus file: DIR/<name>/input.txt, else DIR/input.txt."""
    if data_dir is None:
        raise ConfigError(f"dataset {name!r} needs --data-dir DIR (or $TRADEOFF_BENCH_DATA) holding "
                          f"{name}/{FILES[name]}")
    if not Path(data_dir).is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist")
    for candidate in (Path(data_dir) / name / FILES[name], Path(data_dir) / FILES[name]):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{data_dir}: no {name}/{FILES[name]} (nor {FILES[name]}) for dataset {name!r}")


def load_text_corpus(name: str, data_dir: Path | None) -> TextCorpus:
    """Read, check and tokenize a corpus; anything that is not non-empty UTF-8 text is a one-line ConfigError.
    A generated corpus (random-tokens) needs no file."""
    if name in GENERATED:
        return GENERATED[name]()
    path = text_path(name, data_dir)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not raw:
        raise ConfigError(f"{path}: empty file, expected the {name} text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: not a text file (it holds NUL bytes at offset {raw.index(0)})")
    codes = np.fromiter(map(ord, text), dtype=np.int64, count=len(text))
    chars, tokens = np.unique(codes, return_inverse=True)  # sorted code points: nanoGPT's sorted(set(text))
    tokens = torch.from_numpy(tokens.astype(np.int64))
    cut = int(len(tokens) * TRAIN_FRACTION)
    return TextCorpus(name, "".join(map(chr, chars)), tokens[:cut], tokens[cut:], str(path))


def random_tokens(seed: int = 0, vocab_size: int = GPT2_VOCAB, train: int = 2**20,
                  held_out: int = 2**16) -> TextCorpus:
    """Uniform random token ids from a seeded generator: the shape of GPT-2 training (its vocabulary padded to
    50,304, a multiple of 64, as nanoGPT's GPTConfig pads it) with no download. Nothing is learnable: a
    throughput workload."""
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab_size, (train + held_out,), generator=gen)
    return TextCorpus("random-tokens", "", tokens[:train], tokens[train:], "generated", vocab_size)


GENERATED = {"random-tokens": random_tokens}


def check_language_model(data) -> str | None:
    """What is wrong with a language-modelling Dataset's tensors, or None: x_* and y_* int64 (N, T) of the same
    T in both splits, N >= 1, token ids in [0, num_classes), num_classes >= 2 (the check a plug-in dataset of
    this task gets before any training)."""
    if isinstance(data.num_classes, bool) or not isinstance(data.num_classes, int) or data.num_classes < 2:
        return f"num_classes is {data.num_classes!r}, expected the vocabulary size, an integer >= 2"
    length = data.x_train.shape[1] if data.x_train.ndim == 2 else None
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        for key, t in ((f"x_{split}", x), (f"y_{split}", y)):
            if t.dtype != torch.int64 or t.ndim != 2 or len(t) == 0 or t.shape[1] != length:
                return (f"{key} is {t.dtype} {tuple(t.shape)}, expected int64 (N, T) token ids with N >= 1 and the "
                        f"same T in every split")
        if y.shape != x.shape:
            return f"y_{split} has shape {tuple(y.shape)}, x_{split} {tuple(x.shape)}: one next token per position"
        low, high = int(min(x.min(), y.min())), int(max(x.max(), y.max()))
        if low < 0 or high >= data.num_classes:
            return f"{split} tokens span {low}..{high}, expected 0..{data.num_classes - 1}"
    return None
