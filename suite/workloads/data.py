"""The dataset registry, datasets as in-memory tensors: digits (bundled with scikit-learn, the default), MNIST
and Fashion-MNIST from a directory of IDX files, synthetic tensors for pure speed, and plug-ins.

Two plain dicts keyed by the dataset name: DATASETS holds the one-line descriptions and LOADERS the loaders,
each `loader(data_dir, download) -> Dataset`. A new dataset adds one entry to each. Plug-ins extend the
registry: entry-point names join DATASETS, and a `package.module:loader` name is accepted by its form; their
loaders take `data_dir` alone (suite/workloads/plugins.py).

Nothing is downloaded unless `download=True` is passed (the CLI's `--download`).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from suite.plumbing.errors import ConfigError, choices_error
from suite.workloads import images, plugins
from suite.workloads.dataset import DATA_ENV, Dataset, batches, evenly_spaced, standardized  # noqa: F401 (re-exported)
from suite.workloads.split import bundled_digits, stratified_split
from suite.workloads.text import TEXT_DATASETS, load_text_corpus

DATASETS = {
    "digits": "scikit-learn's bundled 8x8 digits (1,797 images): fixed stratified 1,437 train / 360 test",
    "mnist": "MNIST 28x28 from IDX files in --data-dir (or TRADEOFF_BENCH_DATA); 10k test split alone: "
    "stratified 8,000 / 2,000",
    "fashion-mnist": "Fashion-MNIST 28x28 from IDX files, same layout and rules as mnist",
    "synthetic": "random 1x28x28 tensors, 10 classes, 4,096 train / 1,024 test: for speed only",
    "cifar10": "CIFAR-10 3x32x32 from the python batches (cifar-10-batches-py/) in --data-dir: 50,000 train / "
    "10,000 test",
    "synthetic-rgb32": "seeded learnable 3x32x32 images, 10 classes (a smooth pattern per class under strong noise), "
    "16,384 train / 4,096 test: CIFAR-10's shape without a download",
    **TEXT_DATASETS,  # suite/workloads/text.py
}
IDX_MAGIC = {"images": 2051, "labels": 2049}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLIT_SEED = 0  # fixes every train/test split carved here
MAX_IDX_BYTES = 2**30  # 60,000 MNIST training images are 47 MB; a header promising over 1 GiB is refused
TEST_ONLY_SPLIT = 2000  # test images carved from a lone 10k test split
VALIDATION_FRACTION = 0.2  # of the training split, held out for selection (as the 80/20 digits split)
EVAL_SPLITS = {
    "test": "train on the training split, evaluate on the test split",
    "validation": f"train on the training split minus a stratified {VALIDATION_FRACTION:.0%} validation split, "
    "evaluate on that validation split; the test split is dropped (for selection)",
}


def _stratified_split(x: np.ndarray, y: np.ndarray, test_size):
    return stratified_split(x, y, test_size, SPLIT_SEED)


def load_digits_dataset() -> Dataset:
    """scikit-learn's bundled digits (works offline), 80/20 stratified split, shape (N, 1, 8, 8)."""
    images, labels = bundled_digits()
    x = images.astype(np.float32)[:, None] / 16.0
    x_train, x_test, y_train, y_test = _stratified_split(x, labels, 0.2)
    return standardized("digits", x_train, y_train, x_test, y_test, 10)


def validation_split(data: Dataset, fraction: float = VALIDATION_FRACTION) -> Dataset:
    """The training split cut into train and validation (stratified, seed SPLIT_SEED), the validation part
    in the test slots. The test split is not carried over, so nothing selected on the result can see it.
    A text corpus cuts its own (the tail of its training text: suite/workloads/text.py)."""
    if not isinstance(data, Dataset):
        return data.validation_split(fraction)
    index = np.arange(len(data.y_train))
    train, val, _, _ = _stratified_split(index, data.y_train.cpu().numpy(), fraction)
    train, val = (torch.as_tensor(i, device=data.y_train.device) for i in (train, val))
    return dataclasses.replace(data, x_train=data.x_train[train], y_train=data.y_train[train],
                               x_test=data.x_train[val], y_test=data.y_train[val])


def read_idx(path: Path, kind: str) -> np.ndarray:
    """One IDX file (`.gz` or raw) as a uint8 array, its magic number, shape and size validated. Only as many
    bytes as the header promises are read (and decompressed), at most MAX_IDX_BYTES: a file that expands
    to gigabytes is refused, not loaded."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as handle:
            header_size = 8 if kind == "labels" else 16
            header = handle.read(header_size)
            dims = _idx_dims(path, kind, header, header_size)
            size = math.prod(dims)  # exact: header dimensions can multiply beyond int64
            if size > MAX_IDX_BYTES:
                raise ConfigError(f"{path}: header says {dims} = {size:,} bytes, more than the "
                                  f"{MAX_IDX_BYTES:,} an IDX file may hold here")
            data = handle.read(size + 1)  # one byte more shows a file longer than its header says
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ConfigError(f"{path}: cannot read IDX file ({exc})") from None
    if len(data) > size:
        raise ConfigError(f"{path}: more data than the {size:,} bytes its header declares for {dims}")
    if len(data) < size:
        raise ConfigError(f"{path}: {len(data)} data bytes, header says {size} for {dims}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _idx_dims(path: Path, kind: str, header: bytes, header_size: int) -> tuple[int, ...]:
    """The dimensions an IDX header declares: (count,) for labels, (count, rows, columns) for images."""
    if len(header) < header_size:
        raise ConfigError(f"{path}: truncated IDX header ({len(header)} bytes)")
    magic, *dims = struct.unpack(">II" if kind == "labels" else ">IIII", header)
    if magic != IDX_MAGIC[kind]:
        raise ConfigError(f"{path}: IDX magic {magic}, expected {IDX_MAGIC[kind]} for {kind}")
    if dims[0] == 0 or 0 in dims[1:]:
        raise ConfigError(f"{path}: the header declares {tuple(dims)}: no {kind}")
    return tuple(dims)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_split(directory: Path, split: str):
    """(images, labels) of one split, or None when its files are absent."""
    paths = [_find_idx(directory, stem) for stem in IDX_FILES[split]]
    if not all(paths):
        return None
    images, labels = read_idx(paths[0], "images"), read_idx(paths[1], "labels")
    if len(images) != len(labels):
        raise ConfigError(f"{directory}: {len(images)} {split} images but {len(labels)} labels")
    if labels.max() > 9:
        raise ConfigError(f"{paths[1]}: label {labels.max()} out of range 0-9")
    return images[:, None].astype(np.float32) / 255.0, labels


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The data directory: the argument, else $TRADEOFF_BENCH_DATA, else None."""
    value = data_dir or os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def load_idx_dataset(name: str, data_dir: Path | None, download: bool = False) -> Dataset:
    """MNIST-layout IDX files from `data_dir/<name>/` or `data_dir/` itself.

    Both splits present: the official train/test split. Only the 10k test split present: a
    deterministic stratified 8,000 train / 2,000 test split of it (seed SPLIT_SEED).
    """
    data_dir = Path(data_dir) if data_dir is not None else None
    if download:
        data_dir = _download(name, data_dir)
    if data_dir is None:
        raise ConfigError(f"dataset {name!r} needs --data-dir DIR (or ${DATA_ENV}) holding its IDX files")
    if not data_dir.is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist")
    directory = data_dir / name if (data_dir / name).is_dir() else data_dir
    test = _read_split(directory, "test")
    if test is None:
        raise ConfigError(f"{directory}: no {IDX_FILES['test'][0]}[.gz] / {IDX_FILES['test'][1]}[.gz] for {name!r}")
    train = _read_split(directory, "train")
    if train is None:
        x_train, x_test, y_train, y_test = _split_test_only(directory, *test)
    else:
        (x_train, y_train), (x_test, y_test) = train, test
    return standardized(name, x_train, y_train, x_test, y_test, 10)


def _split_test_only(directory: Path, images: np.ndarray, labels: np.ndarray):
    """The lone test split cut into train and TEST_ONLY_SPLIT test images; ConfigError when it is too small
    to leave both sides every class (the stratified split refuses such a split)."""
    if len(labels) <= TEST_ONLY_SPLIT:
        raise ConfigError(f"{directory}: only the test split is present and it has {len(labels):,} images; "
                          f"carving {TEST_ONLY_SPLIT:,} test images from it needs more (the t10k files have 10,000)")
    try:
        return _stratified_split(images, labels, TEST_ONLY_SPLIT)
    except ValueError as exc:
        raise ConfigError(f"{directory}: cannot split the {len(labels):,} test images into train and test "
                          f"({str(exc).splitlines()[0]})") from None


def _download(name: str, data_dir: Path | None) -> Path:
    """Fetch the IDX files with torchvision (only on the user's explicit request)."""
    try:
        from torchvision import datasets
    except ImportError:
        raise ConfigError("--download needs torchvision installed; or put the IDX files in --data-dir") from None
    root = data_dir or Path.home() / ".cache" / "tradeoff-bench"
    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[name]
    for train in (True, False):
        cls(str(root), train=train, download=True)
    return root / cls.__name__ / "raw"


def synthetic_dataset(seed: int = 0) -> Dataset:
    """Random inputs and labels: measures speed only (accuracy stays near chance)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(5120, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (5120,), generator=gen)
    return Dataset("synthetic", x[:4096], y[:4096], x[4096:], y[4096:], 10)


def _load_text(name: str, data_dir: Path | None, download: bool):
    """A text corpus (suite/workloads/text.py, imported when used) as a TextCorpus."""
    return load_text_corpus(name, data_dir)


LOADERS = {
    "digits": lambda data_dir, download: load_digits_dataset(),
    "mnist": functools.partial(load_idx_dataset, "mnist"),
    "fashion-mnist": functools.partial(load_idx_dataset, "fashion-mnist"),
    "synthetic": lambda data_dir, download: synthetic_dataset(),
    "cifar10": images.load_cifar10,
    "synthetic-rgb32": lambda data_dir, download: images.synthetic_rgb32(),
    **{name: functools.partial(_load_text, name) for name in TEXT_DATASETS},
}
DATASETS.update(plugins.registered("dataset", exclude=LOADERS))  # names that installed plug-ins register


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, data_dir: Path | None, download: bool) -> Dataset:
    if name not in LOADERS:
        return plugins.load_dataset(name, data_dir)
    return LOADERS[name](data_dir, download)


def load_dataset(name: str, data_dir=None, download: bool = False) -> Dataset:
    """The named dataset (a built-in, an entry-point name or a package.module:loader) on the CPU, loaded once
    per process."""
    if name not in DATASETS and not plugins.is_spec(name):

        raise choices_error("dataset", name, [*DATASETS, plugins.SPEC_FORMS["dataset"]])
    return _load_cached(name, resolve_data_dir(data_dir), download)
