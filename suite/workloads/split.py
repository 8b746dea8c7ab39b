"""The stratified train/test split every built-in dataset uses, index for index the one scikit-learn's
`train_test_split(x, y, test_size=..., stratify=y, random_state=seed)` draws, and the digits file scikit-learn
bundles, read without importing scikit-learn.

Why not call scikit-learn: importing it (with SciPy) costs about 1 s in every fresh process that loads a dataset
(each case under `--isolation process`, each Ray or DDP worker) and about 7 s under valgrind, where instruction
counts are taken. The algorithm is StratifiedShuffleSplit's (scikit-learn 1.x, BSD-3): per class an approximate
multivariate-hypergeometric mode of the train and test sizes, ties broken with the seeded RandomState, then one
permutation per class and one of each side. tests/test_data.py checks it against scikit-learn itself.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from pathlib import Path

import numpy as np


def split_sizes(n_samples: int, test_size: float | int) -> tuple[int, int]:
    """(train, test) sample counts: test_size a fraction (rounded up, as scikit-learn does) or a count."""
    n_test = math.ceil(test_size * n_samples) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n_samples:
        raise ValueError(f"test_size={test_size} leaves no sample on one side of {n_samples} samples")
    return n_samples - n_test, n_test


def approximate_mode(class_counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `draws` samples each class gets: its share floored, the rest given to the largest remainders,
    ties broken at random."""
    continuous = class_counts / class_counts.sum() * draws
    floored = np.floor(continuous)
    need = int(draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add = min(len(tied), need)
            floored[rng.choice(tied, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored.astype(int)


def stratified_indices(y: np.ndarray, test_size: float | int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) index arrays with each class in proportion on both sides; ValueError when a class has fewer
    than 2 members or a side is smaller than the number of classes."""
    n_train, n_test = split_sizes(len(y), test_size)
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    if class_counts.min() < 2:
        raise ValueError(f"the least populated classes have only 1 member: {classes[class_counts < 2].tolist()}")
    if min(n_train, n_test) < len(classes):
        raise ValueError(f"a {n_train}/{n_test} split cannot hold each of the {len(classes)} classes on both sides")
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    train_counts = approximate_mode(class_counts, n_train, rng)
    test_counts = approximate_mode(class_counts - train_counts, n_test, rng)
    train, test = [], []
    for members, n_i, t_i in zip(by_class, train_counts, test_counts):
        shuffled = members.take(rng.permutation(len(members)), mode="clip")
        train.extend(shuffled[:n_i])
        test.extend(shuffled[n_i:n_i + t_i])
    return rng.permutation(train), rng.permutation(test)


def stratified_split(x: np.ndarray, y: np.ndarray, test_size: float | int, seed: int):
    """x_train, x_test, y_train, y_test: `stratified_indices` applied to both arrays."""
    train, test = stratified_indices(np.asarray(y), test_size, seed)
    return x[train], x[test], y[train], y[test]


def bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) float64 in 0..16, labels int): scikit-learn's bundled digits.csv.gz, read directly
    (scikit-learn's load_digits where the file is not where scikit-learn 1.x keeps it)."""
    spec = importlib.util.find_spec("sklearn")
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / "datasets" / "data" / "digits.csv.gz" if folders else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    with gzip.open(path, "rt") as handle:
        data = np.loadtxt(handle, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
