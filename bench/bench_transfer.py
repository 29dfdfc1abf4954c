"""Lab 03 benchmark, offline path: what transfer learning buys with few labels.

Target task (`course_lib.data.transfer_task.load_transfer_task`): cluttered 48x48
colour photos of the five Fashion-MNIST classes the shipped backbone never saw
(Dress, Coat, Shirt, Sneaker, Ankle boot), `--labels-per-class` labelled photos
per class drawn per seed, tested on the 500 photos of the target test items.
Methods, on the same images:

- nn_pixels / nn_features: 1-nearest-neighbour on raw pixels / on the frozen backbone's pooled features;
- linear_probe: softmax regression on the frozen backbone's pooled features (the lab's recipe);
- fine_tune: phase 1 is the linear probe (its weights copied into the new head), then every
  layer but BatchNorm at FINE_TUNE_RATE for 40 epochs, with augmentation, BatchNorm kept frozen;
- scratch_toy_cnn, scratch_toy_cnn_bn: lab 02's `build_toy_cnn` (2 blocks, and a VGG-style
  3-block version with BatchNorm), the same augmentation, 60 epochs at 1e-3;
- scratch_course_cnn: the backbone's own architecture from random weights (BatchNorm momentum 0.9,
  nothing frozen), 60 epochs.

    python bench/bench_transfer.py --labels-per-class 20 5 --seeds 1337 1338
"""

import argparse
import sys
import time

import numpy as np

from course_lib import runtime
from course_lib.data.transfer_task import load_transfer_task
from course_lib.diagnostics.embeddings import nearest_neighbor_accuracy
from course_lib.models import course_cnn, transfer
from course_lib.models.classic import build_toy_cnn

import keras  # after course_lib.models, which imports TensorFlow quietly

# The recipes the lab uses in full mode.
SCRATCH_EPOCHS = 60
PROBE_EPOCHS = 300
FINE_TUNE_EPOCHS = 40
FINE_TUNE_RATE = 1e-5


def _compile(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


def _evaluate(model, x, y):
    probabilities = model.predict(x, batch_size=250, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == y))


def _offline_base():
    return course_cnn.load_course_cnn()


def _features(data, base_model=None):
    (x_train, _), _, (x_test, _), _ = data
    extractor = transfer.make_feature_extractor(base_model or _offline_base())
    return (extractor.predict(x_train, batch_size=250, verbose=0),
            extractor.predict(x_test, batch_size=250, verbose=0))


def _probe(data, seed, base_model=None):
    (_, y_train), _, (_, y_test), _ = data
    f_train, f_test = _features(data, base_model)
    runtime.set_seed(seed)
    probe = transfer.build_linear_probe(f_train.shape[1], num_classes=5)
    _compile(probe, 1e-2)
    probe.fit(f_train, y_train, batch_size=32, epochs=PROBE_EPOCHS, verbose=0)
    return probe, _evaluate(probe, f_test, y_test)


def nn_pixels(data, seed):
    (x_train, y_train), _, (x_test, y_test), _ = data
    return nearest_neighbor_accuracy(x_train.reshape(len(x_train), -1), y_train,
                                     x_test.reshape(len(x_test), -1), y_test)


def nn_features(data, seed):
    (_, y_train), _, (_, y_test), _ = data
    f_train, f_test = _features(data)
    return nearest_neighbor_accuracy(f_train, y_train, f_test, y_test)


def linear_probe(data, seed):
    return _probe(data, seed)[1]


def fine_tune(data, seed):
    (x_train, y_train), _, (x_test, y_test), _ = data
    base_model = _offline_base()
    probe, _ = _probe(data, seed, base_model)
    model = transfer.build_transfer_model(base_model, num_classes=5)
    model.get_layer("classifier").set_weights(probe.get_layer("probe").get_weights())   # phase 1
    transfer.unfreeze_top_layers(model, num_layers=len(base_model.layers))
    _compile(model, FINE_TUNE_RATE)
    model.fit(x_train, y_train, batch_size=32, epochs=FINE_TUNE_EPOCHS, verbose=0)
    return _evaluate(model, x_test, y_test)


def _scratch(model, data, seed):
    (x_train, y_train), _, (x_test, y_test), _ = data
    _compile(model, 1e-3)
    model.fit(x_train, y_train, batch_size=32, epochs=SCRATCH_EPOCHS, verbose=0)
    return _evaluate(model, x_test, y_test)


def _toy(data, seed, **kwargs):
    runtime.set_seed(seed)
    model = keras.Sequential([keras.Input(course_cnn.INPUT_SHAPE), transfer.make_augmentation(seed=seed),
                              build_toy_cnn(course_cnn.INPUT_SHAPE, num_classes=5, **kwargs)])
    return _scratch(model, data, seed)


def scratch_toy_cnn(data, seed):
    return _toy(data, seed)


def scratch_toy_cnn_bn(data, seed):
    return _toy(data, seed, filters=(32, 64, 128), batch_norm=True, convs_per_block=2)


def scratch_course_cnn(data, seed):
    runtime.set_seed(seed)
    base_model = course_cnn.build_course_cnn()
    for layer in base_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9      # as in lab 03: 0.99 lags behind the weights over a few hundred steps
    return _scratch(transfer.build_transfer_model(base_model, num_classes=5, freeze_base=False), data, seed)


METHODS = {"nn_pixels": nn_pixels, "nn_features": nn_features, "linear_probe": linear_probe,
           "fine_tune": fine_tune, "scratch_toy_cnn": scratch_toy_cnn,
           "scratch_toy_cnn_bn": scratch_toy_cnn_bn, "scratch_course_cnn": scratch_course_cnn}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels-per-class", type=int, nargs="+", default=[20, 5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337, 1338])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args(argv)
    info = course_cnn.load_course_cnn_info()
    print(f"backbone: {info['architecture']}; source {info['source_task']}; "
          f"source test accuracy {info['source_test_accuracy']:.4f}; "
          f"pre-training {info['training_seconds']:.0f} s ({info['epochs']} epochs)")
    results = {}
    for labels in args.labels_per_class:
        for seed in args.seeds:
            data = load_transfer_task(labels_per_class=labels, seed=seed)
            print(f"{labels} labels per class, seed {seed}: {len(data.train[1])} labelled training photos, "
                  f"{len(data.test[1])} test photos", flush=True)
            for name in args.methods:
                start = time.time()
                accuracy = METHODS[name](data, seed)
                results.setdefault((name, labels), []).append(accuracy)
                print(f"  {name:20s} test accuracy {accuracy:.3f}  ({time.time() - start:.0f} s)", flush=True)
    print("\n| method | " + " | ".join(f"{labels} labels/class" for labels in args.labels_per_class) + " |")
    print("|---|" + "---|" * len(args.labels_per_class))
    for name in args.methods:
        cells = []
        for labels in args.labels_per_class:
            values = results[(name, labels)]
            cells.append(f"{np.mean(values):.3f} ({', '.join(f'{v:.3f}' for v in values)})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
