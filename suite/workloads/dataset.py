"""A dataset as the suite holds it: in-memory tensors split into train and test (`Dataset`), shuffled index
batches over its training split, and the helpers every loader shares. Imports nothing else of the suite's
workloads: every dataset family builds on it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

DATA_ENV = "TRADEOFF_BENCH_DATA"  # the data directory when --data-dir is not given


@dataclass(frozen=True)
class Dataset:
    """Standardized float32 images (N, C, H, W) and int64 labels, split into train and test. `task` says
    what the tensors hold ("classification": x (N, ...) floating, y (N,) class indices in [0, num_classes);
    "language-modelling": x and y (N, T) int64 token ids, y the next token of each position of x,
    suite/workloads/text.py), checked for plug-in datasets by suite.workloads.plugins."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    task: str = "classification"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def to(self, device: torch.device) -> Dataset:
        """The same dataset with every tensor on `device`."""
        move = {k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_test", "y_test")}
        return dataclasses.replace(self, **move)

    def for_case(self, case) -> Dataset:
        """The dataset as the case sees it: the held-out split cut to `case.eval_batches` batches of
        `case.batch_size` samples spread evenly over it (all of it when eval_batches is unset)."""
        if case.eval_batches is None:
            return self
        keep = evenly_spaced(len(self.y_test), case.eval_batches, case.batch_size).to(self.y_test.device)
        return dataclasses.replace(self, x_test=self.x_test[keep], y_test=self.y_test[keep])


def evenly_spaced(count: int, batches: int | None, batch_size: int) -> torch.Tensor:
    """Indices of `batches` x `batch_size` of `count` items spread evenly from the first to the last (every
    index when `batches` is None or asks for as many as there are)."""
    wanted = count if batches is None else min(count, batches * batch_size)
    return torch.from_numpy(np.linspace(0, count - 1, wanted).round().astype(np.int64))


def batches(data: Dataset, batch_size: int, generator: torch.Generator, full_only: bool = False):
    """Index tensors of one shuffled pass over the training split (the last batch may be short)."""
    perm = torch.randperm(len(data.y_train), generator=generator).to(data.y_train.device)
    chunks = perm.split(batch_size)
    return chunks[:-1] if full_only and len(chunks) > 1 and len(chunks[-1]) < batch_size else chunks


def standardized(name, x_train, y_train, x_test, y_test, num_classes) -> Dataset:
    """Scale by the training split's mean and standard deviation (no test statistics leak in)."""
    x_train, x_test = (torch.as_tensor(a, dtype=torch.float32) for a in (x_train, x_test))
    mean, std = x_train.mean(), x_train.std()
    return Dataset(name, (x_train - mean) / std, torch.as_tensor(y_train, dtype=torch.int64),
                   (x_test - mean) / std, torch.as_tensor(y_test, dtype=torch.int64), num_classes)
