"""The tinyshakespeare dataset: nanoGPT's vocabulary and 90/10 split of the real corpus, windows of a case's
context, the held-out batches, the validation split for tuning, and one-line errors for bad files."""

from __future__ import annotations

import pytest
import torch

from suite.cases import Case
from suite.cli import main
from suite.plumbing.errors import ConfigError
from suite.workloads.data import load_dataset, validation_split
from suite.workloads.text import TASK, check_language_model, load_text_corpus

LM = dict(model="transformer", dataset="tinyshakespeare", depth=1, width=16, heads=2, context=8, batch_size=4)


def test_real_corpus_has_nanogpt_vocabulary_and_split(text_data_dir):
    corpus = load_dataset("tinyshakespeare", text_data_dir)
    assert corpus.num_classes == 65 and corpus.vocab[:3] == "\n !" and corpus.vocab[-1] == "z"
    assert (len(corpus.train_tokens), len(corpus.test_tokens)) == (1_003_854, 111_540)  # nanoGPT's prepare.py
    text = "".join(corpus.vocab[i] for i in corpus.train_tokens[:14].tolist())
    assert text == "First Citizen:"


def test_windows_of_the_case_context(text_data_dir):
    corpus = load_dataset("tinyshakespeare", text_data_dir)
    data = corpus.for_case(Case(**LM))
    assert data.x_train.shape == (1_003_854 - 8, 8) and data.input_shape == (8,)
    assert torch.equal(data.x_train[5], corpus.train_tokens[5:13])
    assert torch.equal(data.y_train[5], corpus.train_tokens[6:14])
    assert data.x_train.untyped_storage().data_ptr() == corpus.train_tokens.untyped_storage().data_ptr()  # a view
    assert data.x_test.shape == (111_539 // 8, 8)  # non-overlapping windows: each held-out character once
    assert torch.equal(data.y_test[3], corpus.test_tokens[25:33])
    few = corpus.for_case(Case(**LM, eval_batches=3))
    assert few.x_test.shape == (12, 8)  # 3 batches of 4, spread from the first window to the last
    assert torch.equal(few.x_test[0], data.x_test[0]) and torch.equal(few.x_test[-1], data.x_test[-1])
    assert data.task == few.task == TASK and check_language_model(few) is None


@pytest.mark.parametrize("change, message", [
    (lambda d: {"y_test": d.y_test[:, :-1]}, "y_test is torch.int64 (12, 7), expected int64 (N, T) token ids"),
    (lambda d: {"x_train": d.x_train.float()}, "x_train is torch.float32"),
    (lambda d: {"y_train": d.y_train + 65}, "train tokens span 0..129, expected 0..64"),
    (lambda d: {"num_classes": 1}, "num_classes is 1, expected the vocabulary size"),
])
def test_language_model_tensors_are_checked(text_data_dir, change, message):
    import dataclasses

    data = load_dataset("tinyshakespeare", text_data_dir).for_case(Case(**LM, eval_batches=3))
    problem = check_language_model(dataclasses.replace(data, **change(data)))
    assert problem is not None and problem.startswith(message), problem


def test_tuning_carves_validation_from_the_training_text(text_data_dir):
    corpus = load_dataset("tinyshakespeare", text_data_dir)
    split = validation_split(corpus)
    cut = int(1_003_854 * 0.8)
    assert (len(split.train_tokens), len(split.test_tokens)) == (cut, 1_003_854 - cut)
    assert torch.equal(torch.cat([split.train_tokens, split.test_tokens]), corpus.train_tokens)  # test split dropped


@pytest.mark.parametrize("content, message", [
    (b"", "empty file, expected the tinyshakespeare text"),
    (b"\x89PNG\r\n\x1a\n\xff\xd8", "not a text file (byte 0 is not UTF-8)"),
    (b"text\x00with a NUL", "not a text file (it holds NUL bytes at offset 4)"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, message):
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_bytes(content)
    with pytest.raises(ConfigError) as error:
        load_text_corpus("tinyshakespeare", tmp_path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_missing_file_and_short_text_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="no tinyshakespeare/input.txt"):
        load_text_corpus("tinyshakespeare", tmp_path)
    (tmp_path / "input.txt").write_text("To be, or not to be, that is the question.")  # DIR/input.txt also works
    corpus = load_text_corpus("tinyshakespeare", tmp_path)
    with pytest.raises(ConfigError, match="held-out split has 5 characters, too short for one window of context 8"):
        corpus.for_case(Case(**LM))


def test_a_text_too_short_for_the_context_exits_2_before_training(tmp_path, capsys):
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text("Now is the winter of our discontent\n" * 3)
    plan = tmp_path / "lm.toml"
    plan.write_text('[base]\nmodel = "transformer"\ndataset = "tinyshakespeare"\ncontext = 64\nsteps = 2\n')
    assert main(["run", "--plan", str(plan), "--data-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "too short for one window of context 64 (needs 65)" in err
    assert not (tmp_path / "out" / "cases.jsonl").exists()
