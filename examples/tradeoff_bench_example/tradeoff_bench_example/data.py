"""The `breast-cancer` dataset: a tradeoff-bench dataset loader."""

from __future__ import annotations

import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from suite.workloads.data import Dataset


def breast_cancer(data_dir) -> Dataset:
    """scikit-learn's bundled Wisconsin breast-cancer data (569 samples, 30 features, 2 classes; offline):
    a stratified 80/20 split with seed 0, standardized per feature by the training split's statistics.

    tradeoff-bench calls this as loader(data_dir); the data ships with scikit-learn, so data_dir is unused.
    """
    bunch = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(bunch.data, bunch.target, test_size=0.2,
                                                        stratify=bunch.target, random_state=0)
    x_train, x_test = (torch.as_tensor(x, dtype=torch.float32) for x in (x_train, x_test))
    mean, std = x_train.mean(0), x_train.std(0)
    return Dataset("breast-cancer", (x_train - mean) / std, torch.as_tensor(y_train, dtype=torch.int64),
                   (x_test - mean) / std, torch.as_tensor(y_test, dtype=torch.int64), num_classes=2,
                   task="classification")
