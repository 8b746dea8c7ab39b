import gzip
import struct

import numpy as np
import pytest

from suite.plumbing.errors import ConfigError
from suite.workloads.data import load_dataset, load_idx_dataset, read_idx
from suite.workloads.split import bundled_digits, stratified_indices


def test_digits_split_is_fixed_and_stratified():
    data = load_dataset("digits")
    assert data.x_train.shape == (1437, 1, 8, 8) and data.x_test.shape == (360, 1, 8, 8)
    counts = np.bincount(data.y_test.numpy(), minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    assert abs(float(data.x_train.mean())) < 1e-5 and abs(float(data.x_train.std()) - 1) < 1e-4


@pytest.mark.parametrize("labels, test_size", [
    (np.repeat(np.arange(10), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]), 0.2),  # the digits classes
    (np.repeat(np.arange(10), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]), 2000),  # MNIST t10k, a count
    (np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3] * 3), 0.3),  # tied remainders: broken by the seeded draw
])
@pytest.mark.parametrize("seed", [0, 7])
def test_the_stratified_split_draws_scikit_learns_indices(labels, test_size, seed):
    from sklearn.model_selection import train_test_split

    index = np.random.default_rng(seed).permutation(len(labels))  # classes interleaved, as in real data
    y = labels[index]
    expected = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y, random_state=seed)
    assert [a.tolist() for a in stratified_indices(y, test_size, seed)] == [a.tolist() for a in expected]


def test_the_stratified_split_refuses_what_scikit_learn_refuses():
    with pytest.raises(ValueError, match="only 1 member"):
        stratified_indices(np.array([0, 0, 1, 1, 2]), 0.4, 0)
    with pytest.raises(ValueError, match="cannot hold each of the 3 classes"):
        stratified_indices(np.array([0, 0, 1, 1, 2, 2, 0, 1]), 2, 0)


def test_digits_are_read_as_scikit_learn_bundles_them():
    from sklearn.datasets import load_digits

    images, labels = bundled_digits()
    bunch = load_digits()
    assert np.array_equal(images, bunch.images) and np.array_equal(labels, bunch.target)


def test_synthetic_has_the_declared_shape():
    data = load_dataset("synthetic")
    assert data.x_train.shape == (4096, 1, 28, 28) and data.num_classes == 10


def test_mnist_10k_split_is_8000_2000(mnist_dir):
    data = load_idx_dataset("mnist", mnist_dir)
    assert data.x_train.shape == (8000, 1, 28, 28) and data.x_test.shape == (2000, 1, 28, 28)
    # stratified: 20% of each class of the 10k split (980, 1135, 1032, ...), rounded by scikit-learn
    assert np.bincount(data.y_test.numpy()).tolist() == [196, 227, 206, 202, 196, 178, 192, 206, 195, 202]


def write_idx(path, magic, dims, payload: bytes):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
    path.write_bytes(gzip.compress(header + payload))


def test_idx_header_is_validated(tmp_path):
    good = tmp_path / "labels.gz"
    write_idx(good, 2049, [3], bytes([1, 2, 3]))
    assert read_idx(good, "labels").tolist() == [1, 2, 3]
    bad_magic = tmp_path / "bad.gz"
    write_idx(bad_magic, 2051, [3], bytes([1, 2, 3]))
    with pytest.raises(ConfigError, match="IDX magic 2051, expected 2049"):
        read_idx(bad_magic, "labels")
    short = tmp_path / "short.gz"
    write_idx(short, 2051, [2, 28, 28], bytes(100))
    with pytest.raises(ConfigError, match="100 data bytes, header says 1568"):
        read_idx(short, "images")
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(b"not gzip at all")
    with pytest.raises(ConfigError, match="cannot read IDX file"):
        read_idx(corrupt, "images")


def test_missing_or_empty_data_dir(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_idx_dataset("mnist", tmp_path / "absent")
    with pytest.raises(ConfigError, match="no t10k-images-idx3-ubyte"):
        load_idx_dataset("mnist", tmp_path)
    with pytest.raises(ConfigError, match="needs --data-dir"):
        load_idx_dataset("mnist", None)
