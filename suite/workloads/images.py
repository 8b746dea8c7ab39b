"""RGB 32x32 image datasets for the resnet family on a GPU: CIFAR-10 from its python batches, and a seeded
synthetic stand-in with the same shape that a network can learn.

    cifar10          DIR/cifar-10-batches-py/ (or DIR/cifar10/cifar-10-batches-py/): data_batch_1..5 and
                     test_batch, the python-pickle batches of https://www.cs.toronto.edu/~kriz/cifar.html
                     (each a dict: b"data" uint8 (10000, 3072) in R, G, B planes; b"labels" 10,000 ints)
    synthetic-rgb32  10 classes, each a fixed smooth random pattern (3x8x8 noise upsampled to 3x32x32),
                     shifted circularly by up to 8 px each way per sample, under Gaussian noise of three times
                     its amplitude: learnable, not trivial (the class means of the training split classify the
                     test split at about 90%; a translation-equivariant network can do better)

The batches are pickles, so they are read with an unpickler that accepts only the numpy types that hold
their arrays: a file that names anything else is refused, never executed.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from suite.plumbing.errors import ConfigError
from suite.workloads.dataset import DATA_ENV, standardized

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_SHAPE = (3, 32, 32)
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 16_384, 4_096
SYNTHETIC_NOISE = 3.0  # noise standard deviation over the class pattern's (unit) one
SYNTHETIC_SHIFT = 8  # pixels, each way
ALLOWED_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                   ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                   ("numpy._core.multiarray", "scalar")}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds dicts, lists, numbers, bytes and numpy arrays, and refuses any other global."""

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def cifar_dir(data_dir: Path | None) -> Path | None:
    """The folder holding the CIFAR-10 python batches under `data_dir`, or None when there is none."""
    if data_dir is None:
        return None
    for candidate in (Path(data_dir) / CIFAR_DIR, Path(data_dir) / "cifar10" / CIFAR_DIR):
        if all((candidate / name).is_file() for name in (*CIFAR_TRAIN, CIFAR_TEST)):
            return candidate
    return None


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) of one batch file; ConfigError when it is not one."""
    try:
        with open(path, "rb") as handle:
            batch = _ArraysOnly(handle, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ConfigError(f"{path}: not a CIFAR-10 python batch ({type(exc).__name__}: {exc})") from None
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(b"labels") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ConfigError(f"{path}: b'data' is not a uint8 (N, 3072) array")
    labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    if labels.shape != (len(data),) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise ConfigError(f"{path}: b'labels' is not {len(data)} classes in 0-9")
    return data.reshape(-1, *CIFAR_SHAPE), labels


def load_cifar10(data_dir: Path | None, download: bool = False):
    """CIFAR-10's 50,000 training and 10,000 test images, standardized on the training split."""
    folder = cifar_dir(data_dir)
    if folder is None:
        raise ConfigError(f"dataset 'cifar10' needs --data-dir DIR (or ${DATA_ENV}) holding {CIFAR_DIR}/ with "
                          f"{', '.join(CIFAR_TRAIN)} and {CIFAR_TEST}; without it use 'synthetic-rgb32'")
    train = [read_cifar_batch(folder / name) for name in CIFAR_TRAIN]
    x_test, y_test = read_cifar_batch(folder / CIFAR_TEST)
    x_train, y_train = np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])
    return standardized("cifar10", x_train.astype(np.float32) / 255, y_train, x_test.astype(np.float32) / 255,
                         y_test, 10)


def synthetic_rgb32(seed: int = 0, train: int = SYNTHETIC_TRAIN, test: int = SYNTHETIC_TEST):
    """The seeded learnable stand-in for CIFAR-10 (see the module docstring), standardized like every dataset."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randn(10, 3, 8, 8, generator=gen)
    patterns = F.interpolate(coarse, size=CIFAR_SHAPE[1:], mode="bilinear", align_corners=False)
    patterns = patterns / patterns.flatten(1).std(dim=1).view(10, 1, 1, 1)
    count, side = train + test, CIFAR_SHAPE[1]
    labels = torch.randint(0, 10, (count,), generator=gen)
    shift = torch.randint(-SYNTHETIC_SHIFT, SYNTHETIC_SHIFT + 1, (count, 2), generator=gen)
    rows = ((torch.arange(side) + shift[:, :1]) % side).view(count, 1, side, 1)
    cols = ((torch.arange(side) + shift[:, 1:]) % side).view(count, 1, 1, side)
    images = patterns[labels][torch.arange(count).view(count, 1, 1, 1), torch.arange(3).view(1, 3, 1, 1), rows, cols]
    images += SYNTHETIC_NOISE * torch.randn(count, *CIFAR_SHAPE, generator=gen)
    return standardized("synthetic-rgb32", images[:train], labels[:train], images[train:], labels[train:], 10)
