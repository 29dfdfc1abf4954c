"""Lab 03 benchmark, offline path: scratch vs linear probe vs fine-tuning on few labels.

Target task: the five Fashion-MNIST classes the shipped backbone never saw
(Dress, Coat, Shirt, Sneaker, Ankle boot), `--labels-per-class` labelled training
images per class, tested on every test image of those classes (5,000 with
`--subset full`). Methods, all on the same images, augmentation and epochs budget:

- scratch_mobilenet: the backbone's architecture (MobileNetV2 0.35, 32x32) from random weights;
- scratch_toy_cnn: `build_toy_cnn` (2 conv blocks, no BatchNorm), with the same augmentation;
- linear_probe: softmax regression on the frozen backbone's pooled features;
- fine_tune: head first (base frozen, 30 epochs at 1e-3), then every layer but
  BatchNorm at a 10x lower rate (40 epochs at 1e-4), BatchNorm kept frozen.

    python bench/bench_transfer.py --subset full --seeds 1337 1338 1339
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("COURSE_LIB_OFFLINE", "1")

import numpy as np  # noqa: E402

from course_lib import runtime  # noqa: E402
from course_lib.models import transfer  # noqa: E402

# The recipes the lab uses in full mode.
SCRATCH_EPOCHS = 60
PROBE_EPOCHS = 300
HEAD_EPOCHS = 30
FINE_TUNE_EPOCHS = 40
FINE_TUNE_LAYERS = 154          # every layer of the backbone; BatchNorm stays frozen
LEARNING_RATES = (1e-3, 1e-4)


def _evaluate(model, x, y):
    probabilities = model.predict(x, batch_size=500, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == y))


def scratch_mobilenet(data, seed):
    (x_train, y_train), _, (x_test, y_test) = data
    runtime.set_seed(seed)
    model = transfer.build_scratch_model(num_classes=5)
    transfer.compile_classifier(model, 1e-3)
    model.fit(x_train, y_train, batch_size=32, epochs=SCRATCH_EPOCHS, verbose=0)
    return _evaluate(model, x_test, y_test)


def scratch_toy_cnn(data, seed):
    import keras
    from course_lib.models.classic import build_toy_cnn
    (x_train, y_train), _, (x_test, y_test) = data
    runtime.set_seed(seed)
    model = keras.Sequential([keras.Input((32, 32, 3)), transfer.make_augmentation(seed=seed),
                              build_toy_cnn((32, 32, 3), num_classes=5)])
    transfer.compile_classifier(model, 1e-3)
    model.fit(x_train, y_train, batch_size=32, epochs=SCRATCH_EPOCHS, verbose=0)
    return _evaluate(model, x_test, y_test)


def linear_probe(data, seed):
    (x_train, y_train), _, (x_test, y_test) = data
    runtime.set_seed(seed)
    extractor = transfer.make_feature_extractor(transfer.build_backbone(weights="course_offline", input_shape=None))
    f_train = extractor.predict(x_train, batch_size=500, verbose=0)
    f_test = extractor.predict(x_test, batch_size=500, verbose=0)
    probe = transfer.build_linear_probe(f_train.shape[1], num_classes=5)
    transfer.compile_classifier(probe, 1e-2)
    probe.fit(f_train, y_train, batch_size=32, epochs=PROBE_EPOCHS, verbose=0)
    return _evaluate(probe, f_test, y_test)


def fine_tune(data, seed):
    (x_train, y_train), _, (x_test, y_test) = data
    runtime.set_seed(seed)
    base_model = transfer.build_backbone(weights="course_offline", input_shape=None)
    model = transfer.build_transfer_model(base_model, num_classes=5)
    transfer.fine_tune(model, (x_train, y_train), head_epochs=HEAD_EPOCHS,
                       fine_tune_epochs=FINE_TUNE_EPOCHS, num_layers=FINE_TUNE_LAYERS,
                       learning_rates=LEARNING_RATES)
    return _evaluate(model, x_test, y_test)


METHODS = {"scratch_mobilenet": scratch_mobilenet, "scratch_toy_cnn": scratch_toy_cnn,
           "linear_probe": linear_probe, "fine_tune": fine_tune}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels-per-class", type=int, default=20)
    parser.add_argument("--subset", default="full", choices=["full", "small"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args(argv)
    runtime.quiet_tensorflow()
    info = transfer.load_offline_info()
    print(f"backbone: {info['architecture']}; source {info['source_task']}; "
          f"source test accuracy {info['source_test_accuracy']:.4f}; "
          f"pre-training {info['training_seconds']:.0f} s ({info['epochs']} epochs)")
    results = {name: [] for name in args.methods}
    for seed in args.seeds:
        data = transfer.load_transfer_task(labels_per_class=args.labels_per_class,
                                           subset=args.subset, seed=seed)
        print(f"seed {seed}: {len(data[0][1])} labelled training images, {len(data[2][1])} test images",
              flush=True)
        for name in args.methods:
            start = time.time()
            accuracy = METHODS[name](data, seed)
            results[name].append(accuracy)
            print(f"  {name:18s} test accuracy {accuracy:.4f}  ({time.time() - start:.0f} s)", flush=True)
    print(f"\n| method | test accuracy, {args.labels_per_class} labels/class "
          f"(mean +- std over {len(args.seeds)} seed(s)) |")
    print("|---|---|")
    for name, values in results.items():
        print(f"| {name} | {np.mean(values):.3f} +- {np.std(values):.3f} |")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
