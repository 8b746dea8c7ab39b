"""The seed's own model as written, through Keras 3: a reference row beside the PyTorch cases (case field
`framework`).

The seed document's CNN exactly as its code builds it: Conv 32 3x3 relu, max-pool 2, Conv 64 3x3 relu, max-pool 2,
Conv 64 3x3 relu, flatten, Dense 64 relu, Dense 10 softmax (93,322 parameters, as the PyTorch `seed-cnn`), compiled
with Adam and sparse categorical cross-entropy and fitted with the case's batch size and epochs (the seed's: 64, 10)
on the suite's own train and test split of the case's dataset, which must be 28x28 images (mnist, fashion-mnist).

Keras reads its backend (KERAS_BACKEND) when it is first imported, so a case of another framework runs in a process
of its own (suite.levers.environment sets the variable for it). The backend's threads follow the case's `threads`.

Timing: a callback reads the clock around every batch of `fit`; the first epoch is the warm-up, and the full
batches of the later epochs give `train_samples_per_s` (median and spread over batches). A Keras batch includes
feeding it from the arrays, which the suite's training step leaves out, so the fair comparison with PyTorch is
`train_e2e_samples_per_s`: samples over the epoch times after the warm-up epoch (all epochs when there is one),
because the PyTorch accuracy run starts in a process its timed rounds already warmed up, while Keras's first epoch
holds its one-time setup (building the train function; tracing on TensorFlow).
Accuracy from `evaluate` on the test split; batch-1 latency and batched throughput from `predict_on_batch`, timed
by the suite's own latency and round procedures.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time

import torch

from suite.measure.timing import latency_metrics, throughput_metrics, time_latency, time_rounds
from suite.plumbing.errors import ConfigError
from suite.plumbing.fields import CaseField

FRAMEWORKS = {
    "torch": "PyTorch: the suite's own training loop (the default)",
    "keras-torch": "the seed's Keras 3 model and fit() on Keras's torch backend (pip install -e '.[keras]')",
    "keras-tensorflow": "the seed's Keras 3 model and fit() on TensorFlow (pip install tensorflow-cpu)",
}
FIELDS = (CaseField("framework", "str", "torch", "PyTorch, or the seed's Keras model on a Keras backend", FRAMEWORKS),)
# Fields a Keras case takes as the seed has them: its model, optimizer, schedule and levers at their defaults.
REQUIRED = {"model": "seed-cnn", "optimizer": "adam", "schedule": "constant", "weight_decay": 0.0, "precision": "fp32",
            "compile": "none", "memory_format": "contiguous", "quantization": "none", "pruning": "none",
            "runtime": "torch", "world_size": 1, "deterministic": False, "fused": False, "steps": None,
            "device": "cpu", "target_accuracy": None}
IMAGE_SHAPE = (1, 28, 28)  # what the seed's model takes
TIMING_ONLY_EPOCHS = 2  # warm-up and one timed epoch
NOTE = ("per-batch times include feeding the batch, which the PyTorch step leaves out: compare "
        "train_e2e_samples_per_s")


def backend(framework: str) -> str | None:
    """The Keras backend of a framework ("torch", "tensorflow"), None for PyTorch itself."""
    return framework.removeprefix("keras-") if framework.startswith("keras-") else None


def validate(case) -> None:
    """ConfigError naming the field for a Keras case that differs from the seed's recipe where Keras runs it."""
    if case.framework == "torch":
        return
    for name, required in REQUIRED.items():
        if getattr(case, name) != required:
            raise ConfigError(f"framework {case.framework!r} runs the seed's model as written: {name} must be "
                              f"{required!r}, got {getattr(case, name)!r}")


def id_parts(case) -> list[str]:
    """The framework's id fragment: none for PyTorch."""
    return [case.framework] if case.framework != "torch" else []


def availability(case) -> tuple[bool, str]:
    """(True, "") when Keras and its backend are installed, else the install command."""
    name = backend(case.framework)
    if name is None:
        return True, ""
    if importlib.util.find_spec("keras") is None:
        return False, f"framework {case.framework} needs Keras 3: pip install -e '.[keras]'"
    if name == "tensorflow" and importlib.util.find_spec("tensorflow") is None:
        return False, "framework keras-tensorflow needs TensorFlow: pip install tensorflow-cpu"
    return True, ""


def import_keras(name: str):
    """Keras on backend `name`; ConfigError when this process imported it on another backend already."""
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise ConfigError(f"Keras runs on {keras.backend.backend()!r} in this process; backend {name!r} needs a "
                              "process of its own")
        return keras
    os.environ["KERAS_BACKEND"] = name
    import keras

    return keras


def seed_model(keras):
    """The seed document's Keras CNN, as its code builds it."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])


def set_threads(keras, threads: int) -> None:
    """The backend's intra-op threads (torch's are the case's already: the Threads lever's scope)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)


def batch_timer(keras, samples: int, batch_size: int):
    """A callback that keeps the seconds of every full batch after the first epoch and of every epoch."""

    class BatchTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.epochs, self.epoch = [], [], 0
            self.full = samples // batch_size  # batches of a full epoch that hold batch_size samples

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.epoch_start = epoch, time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self.epoch_start)

        def on_train_batch_begin(self, batch, logs=None):
            self.batch_start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch > 0 and batch < self.full:
                self.batches.append(time.perf_counter() - self.batch_start)

    return BatchTimer()


def run(case, config, data):
    """(status, reason, metrics, samples) of the Keras reference on `data` (the suite's Dataset on the CPU)."""
    if tuple(data.input_shape) != IMAGE_SHAPE:
        return "skipped", (f"framework {case.framework} runs the seed's 28x28 model: dataset {case.dataset} has "
                           f"{'x'.join(map(str, data.input_shape))} images (mnist: --data-dir)"), {}, {}
    keras = import_keras(backend(case.framework))
    set_threads(keras, torch.get_num_threads())
    keras.utils.set_random_seed(case.seed)
    x_train, x_test = (x.permute(0, 2, 3, 1).numpy() for x in (data.x_train, data.x_test))
    y_train, y_test = data.y_train.numpy(), data.y_test.numpy()
    model = seed_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=case.lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    epochs = TIMING_ONLY_EPOCHS if config.timing_only else case.epochs
    timer = batch_timer(keras, len(x_train), case.batch_size)
    history = model.fit(x_train, y_train, batch_size=case.batch_size, epochs=epochs, shuffle=True, verbose=0,
                        callbacks=[timer, keras.callbacks.TerminateOnNaN()])
    cpu = torch.device("cpu")
    warm = timer.epochs[1:] or timer.epochs  # after the warm-up epoch (see the module's docstring)
    metrics = {"params": model.count_params(), **throughput_metrics("train", timer.batches, case.batch_size),
               "train_e2e_samples_per_s": len(x_train) * len(warm) / sum(warm)}
    samples = {"train": timer.batches}
    if len(history.history["loss"]) < epochs:  # TerminateOnNaN stopped the fit
        return "diverged", f"loss not finite in epoch {len(history.history['loss'])}", metrics, samples
    if config.timing_only:
        metrics["test_accuracy_reason"] = "not measured: timing only (no training to the accuracy budget)"
    else:
        start = time.perf_counter()
        scores = model.evaluate(x_test, y_test, batch_size=case.batch_size, verbose=0, return_dict=True)
        samples["accuracy"] = [time.perf_counter() - start]
        metrics |= {"test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["loss"]),
                    "train_seconds": sum(timer.epochs), "eval_seconds": samples["accuracy"][0]}
    one, batch = x_test[:1], x_test[: case.batch_size]
    latency, fewer = time_latency(lambda: model.predict_on_batch(one), cpu, config.latency_calls,
                                  config.latency_warmup, config.latency_bound_s)
    infer_seconds = time_rounds(lambda: model.predict_on_batch(batch), cpu, config.infer_rounds, 1, 1)
    metrics |= latency_metrics(latency, fewer) | throughput_metrics("infer", infer_seconds, len(batch))
    metrics["infer_batch_seconds"] = infer_seconds
    samples["infer"] = latency
    return "ok", f"Keras {keras.__version__} on {keras.backend.backend()}: {NOTE}", metrics, samples
