"""The GPU workloads on the CPU: random-tokens, cifar10 and synthetic-rgb32, the matmul_precision and fused case
fields, and plans made of parts (the gpu and gpu-quick plans' expansion, dataset_if_present)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from suite.cases import Case
from suite.levers import availability
from suite.levers.precision import case_matmul_precision
from suite.measure.cost import ceiling_precision
from suite.optim import build_optimizer
from suite.plans import expand_plan, load_plan
from suite.plumbing.errors import ConfigError
from suite.workloads.images import load_cifar10, synthetic_rgb32
from suite.workloads.text import GPT2_VOCAB, random_tokens

GPT2 = dict(model="transformer", dataset="random-tokens", depth=1, width=32, heads=2, context=16, steps=1)


def test_random_tokens_are_seeded_gpt2_vocabulary_windows():
    corpus = random_tokens(train=4096, held_out=512)
    assert corpus.num_classes == GPT2_VOCAB == 50_304 and len(corpus.train_tokens) == 4096
    assert torch.equal(corpus.train_tokens, random_tokens(train=4096, held_out=512).train_tokens)
    assert not torch.equal(corpus.train_tokens, random_tokens(seed=1, train=4096, held_out=512).train_tokens)
    assert 0 <= int(corpus.train_tokens.min()) and int(corpus.train_tokens.max()) < GPT2_VOCAB
    data = corpus.for_case(Case(**GPT2, eval_batches=1, batch_size=4))
    assert data.num_classes == GPT2_VOCAB and data.x_train.shape[1] == 16 and data.x_test.shape == (4, 16)
    assert torch.equal(data.y_train[0, :-1], data.x_train[0, 1:])  # next-token targets
    assert corpus.validation_split(0.25).num_classes == GPT2_VOCAB  # the vocabulary survives a split


def test_synthetic_rgb32_is_learnable_not_trivial_and_seeded():
    data = synthetic_rgb32(train=2000, test=1000)
    assert data.x_train.shape == (2000, 3, 32, 32) and data.x_test.shape == (1000, 3, 32, 32)
    assert data.num_classes == 10 and set(data.y_train.tolist()) == set(range(10))
    assert abs(float(data.x_train.mean())) < 1e-4 and abs(float(data.x_train.std()) - 1) < 1e-3  # standardized
    means = torch.stack([data.x_train[data.y_train == k].mean(0) for k in range(10)])
    nearest = ((data.x_test[:, None] - means[None]) ** 2).flatten(2).sum(-1).argmin(1)
    accuracy = float((nearest == data.y_test).float().mean())
    assert 0.5 < accuracy < 0.99  # far above chance (0.1), below certain: something to learn
    assert torch.equal(data.x_test, synthetic_rgb32(train=2000, test=1000).x_test)


def write_batch(path, images: np.ndarray, labels: list[int]) -> None:
    with open(path, "wb") as handle:
        pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": images.reshape(len(labels), -1)}, handle)


def fake_cifar(root, per_batch: int = 8):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_batch(folder / name, rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8),
                    [i % 10 for i in range(per_batch)])
    return folder


def test_cifar10_reads_the_python_batches(tmp_path):
    fake_cifar(tmp_path)
    data = load_cifar10(tmp_path)
    assert data.name == "cifar10" and data.x_train.shape == (40, 3, 32, 32) and data.x_test.shape == (8, 3, 32, 32)
    assert data.y_train[:10].tolist() == [*range(8), 0, 1] and abs(float(data.x_train.mean())) < 1e-5


def test_cifar10_refuses_a_missing_folder_and_a_pickle_that_would_run_code(tmp_path):
    with pytest.raises(ConfigError, match="cifar-10-batches-py.*synthetic-rgb32"):
        load_cifar10(tmp_path)
    folder = fake_cifar(tmp_path)

    class Exploit:
        def __reduce__(self):
            return (print, ("executed",))

    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({b"data": Exploit(), b"labels": [0]}, handle)
    with pytest.raises(ConfigError, match="builtins.print is not allowed"):
        load_cifar10(tmp_path)


def test_matmul_precision_and_fused_fields():
    high = Case(**GPT2, matmul_precision="high", optimizer="adamw", fused=True)
    assert high.id.endswith("-tf32") and "-fused-" in high.id and Case(**GPT2).id == Case(**GPT2).replace().id
    assert {"matmul_precision": "high", "fused": True}.items() <= high.as_dict().items()
    assert all(not isinstance(v, dict) for v in high.as_dict().values())  # flat
    with pytest.raises(ConfigError, match="unknown matmul_precision 'medium'; valid choices: highest, high"):
        Case(matmul_precision="medium")
    with pytest.raises(ConfigError, match="'fused' applies to optimizers adam, adamw .*got optimizer 'sgd'"):
        Case(optimizer="sgd", fused=True)
    with pytest.raises(ConfigError, match="'fused' must be true or false"):
        Case(optimizer="adam", fused="yes")
    assert availability(high) == (False, "matmul_precision 'high' (TF32) applies to CUDA only (device cpu)")
    model = torch.nn.Linear(4, 4)
    assert build_optimizer(Case(optimizer="adam", fused=True), model).defaults["fused"] is True
    assert not build_optimizer(Case(optimizer="adam"), model).defaults["fused"]


def test_matmul_precision_is_set_for_the_case_restored_and_picks_the_ceiling():
    cuda = torch.device("cuda")  # a device object needs no GPU: the setting and the ceiling choice are host-side
    case = Case(**{**GPT2, "device": "cuda"}, matmul_precision="high")
    before = torch.backends.cuda.matmul.allow_tf32
    with case_matmul_precision(case):
        assert torch.backends.cuda.matmul.allow_tf32 is True
    assert torch.backends.cuda.matmul.allow_tf32 == before
    assert ceiling_precision(case, cuda) == "tf32"
    assert ceiling_precision(case.replace(matmul_precision="highest"), cuda) == "fp32"
    assert ceiling_precision(case.replace(precision="bf16"), cuda) == "bf16"


def test_gpu_plans_expand_into_their_parts():
    gpu, quick = load_plan("gpu"), load_plan("gpu-quick")
    assert [name for name, _ in gpu.parts] == ["nanogpt-shakespeare-char", "gpt2-small-throughput", "resnet-rgb32",
                                                "batch-sweep"]
    assert {c.device for c in gpu.cases} == {"cuda"} and len(gpu.cases) == 19 and len(quick.cases) == 6
    (recipe,) = gpu.part_cases("nanogpt-shakespeare-char")
    assert (recipe.depth, recipe.heads, recipe.width, recipe.context, recipe.batch_size, recipe.dropout, recipe.lr,
            recipe.steps, recipe.target_val_loss) == (6, 6, 384, 256, 64, 0.2, 1e-3, 5000, 1.5)
    gpt2 = gpu.part_cases("gpt2-small-throughput")
    assert {(c.precision, c.matmul_precision, c.compile) for c in gpt2} == {
        ("fp32", "highest", "none"), ("fp32", "high", "none"), ("bf16", "highest", "none"),
        ("bf16", "highest", "default")}
    assert {c.dataset for c in gpu.part_cases("resnet-rgb32")} == {"synthetic-rgb32"}
    assert sorted({c.batch_size for c in gpu.part_cases("batch-sweep")}) == [8, 32, 128, 512]
    with pytest.raises(ConfigError, match="no part 'nope'; valid parts: nanogpt-shakespeare-char, gpt2"):
        gpu.part_cases("nope")


def test_dataset_if_present_takes_cifar10_when_its_batches_load(tmp_path):
    fake_cifar(tmp_path)
    resnet = load_plan("gpu-quick", data_dir=tmp_path).part_cases("resnet-rgb32")
    assert {c.dataset for c in resnet} == {"cifar10"} and len(resnet) == 2


@pytest.mark.parametrize(("doc", "message"), [
    ({"part": [{"name": "a", "size": 1}]}, "unknown \\[\\[part\\]\\] key 'size'; valid keys: name, description"),
    ({"part": [{"name": "a"}, {"name": "a"}]}, "each \\[\\[part\\]\\] needs a unique name, got 'a'"),
    ({"part": [{"name": "a"}], "sweep": {"depth": [1]}}, "keeps \\[matrix\\], \\[sweep\\] and .* inside each"),
    ({"part": []}, "must hold at least one table"),
    ({"part": [{"name": "a", "sweep": {"depht": [1]}}]}, "part 'a': \\[sweep\\] key 'depht' is not a case field"),
])
def test_bad_parts_are_refused_naming_the_valid_choices(doc, message):
    with pytest.raises(ConfigError, match=message):
        expand_plan(doc, "p")


def test_nanogpt_flops_ride_in_the_results_beside_the_suites():
    from suite.results.schema import group_metrics

    counted = {"train_flops_per_token": 873_529_344, "nanogpt_train_flops_per_token": 854_000_000}
    assert group_metrics(counted, "infer") == counted
