"""`layer_table(model)`: where a network keeps its activations and its parameters.

Per layer: output shape, number of activations (values one image produces),
their memory in float32, weights (without biases, as the lecture counts them)
and parameters (with biases, as `model.summary()` counts them); then totals.

    table = layer_table(build_vgg16())
    print(table)                  # one line per layer, totals last
    table.total_params            # 138,357,544
    table.total_activations       # 15,237,608 values = 60.95 MB per image (forward, float32)

Rows of layers that only reshape or pass values through at inference
(Flatten, Reshape, Dropout) are listed but not added to the activation total:
they allocate no new values in a framework that uses views.
"""

from dataclasses import dataclass, field

import numpy as np

#: Layers whose output is a view of their input at inference: not counted in the activation total.
VIEW_LAYERS = ("Flatten", "Reshape", "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout")


def _fmt_shape(shape):
    return "x".join("?" if s is None else str(s) for s in shape) if shape else "-"


@dataclass
class LayerTable:
    """The result of `layer_table`: `rows` (a list of dicts) and totals.

    Each row has "name", "type", "output_shape" (without the batch dimension),
    "activations", "memory_bytes", "weights" (without biases), "params"
    (with biases) and "counted" (False for Flatten, Reshape and Dropout, whose
    activations are not added to the total).
    """

    rows: list = field(default_factory=list)

    @property
    def total_activations(self):
        """Activations of one image in a forward pass (counted rows only)."""
        return sum(r["activations"] for r in self.rows if r["counted"])

    @property
    def total_memory_bytes(self):
        """Memory of those activations for one image (float32: 4 bytes each)."""
        return sum(r["memory_bytes"] for r in self.rows if r["counted"])

    @property
    def total_params(self):
        """Parameters with biases, as `model.count_params()`."""
        return sum(r["params"] for r in self.rows)

    @property
    def total_weights(self):
        """Parameters without biases, as the lecture's table counts them."""
        return sum(r["weights"] for r in self.rows)

    def row(self, name):
        """Returns the row of the layer called `name`.

        Raises:
            ValueError: no layer has that name.
        """
        for r in self.rows:
            if r["name"] == name:
                return r
        raise ValueError(f"No layer named {name!r}. Layers: {[r['name'] for r in self.rows]}. "
                         f"Received: name={name!r}")

    def largest(self, key="activations", n=3):
        """Returns the names of the `n` layers with the most `key` ("activations" or "params")."""
        if key not in ("activations", "params", "weights", "memory_bytes"):
            raise ValueError(f'key should be "activations", "memory_bytes", "weights" or "params". '
                             f"Received: key={key!r}")
        return [r["name"] for r in sorted(self.rows, key=lambda r: -r[key])[:n]]

    def to_text(self):
        """Returns the table as fixed-width text, totals on the last line."""
        header = (f"{'layer (type)':<34}{'output shape':>15}{'activations':>13}"
                  f"{'memory':>11}{'weights':>13}{'params':>13}")
        lines = [header, "-" * len(header)]
        for r in self.rows:
            label = f"{r['name']} ({r['type']})"
            activations = f"{r['activations']:,}" + ("" if r["counted"] else "*")
            lines.append(f"{label[:33]:<34}{_fmt_shape(r['output_shape']):>15}{activations:>13}"
                         f"{r['memory_bytes'] / 1e6:>8.2f} MB{r['weights']:>13,}{r['params']:>13,}")
        lines.append("-" * len(header))
        lines.append(f"{'TOTAL (one image, forward)':<34}{'':>15}{self.total_activations:>13,}"
                     f"{self.total_memory_bytes / 1e6:>8.2f} MB{self.total_weights:>13,}"
                     f"{self.total_params:>13,}")
        if not all(r["counted"] for r in self.rows):
            lines.append("* a view of the previous layer's values: not added to the total")
        return "\n".join(lines)

    def __str__(self):
        return self.to_text()

    def __repr__(self):
        return self.to_text()


def _shape_of(tensor):
    return tuple(tensor.shape[1:])


def _count(shape):
    if any(s is None for s in shape):
        return 0
    return int(np.prod(shape)) if shape else 1


def layer_table(model, bytes_per_value=4):
    """Lists, per layer, output shape, activations, memory, weights and parameters, with totals.

    On VGG-16 at 224x224x3 (`build_vgg16()`) this is the lecture's table:
    block1_conv1 outputs 224x224x64 = 3,211,264 activations with 1,728 weights;
    fc1 has 7*7*512*4096 = 102,760,448 weights; in total 138,357,544
    parameters and 15,237,608 activations, 60.95 MB per image in float32.
    Most memory sits in the early conv layers, most parameters in fc1.

    Args:
        model: a built Keras functional or Sequential model (created with
            `keras.Input`, so every layer has a known output shape).
        bytes_per_value: 4 for float32, 2 for float16/bfloat16.

    Returns:
        A `LayerTable`; `print` it, or read `.rows`, `.total_activations`,
        `.total_memory_bytes`, `.total_params`, `.total_weights`.

    Raises:
        ValueError: `model` is not a Keras model, or its layers have no known output
            shapes (a subclassed model, or a Sequential model without `keras.Input`).
    """
    import keras
    if not isinstance(model, keras.Model):
        raise ValueError(f"model should be a keras.Model (e.g. build_toy_cnn()). "
                         f"Received: model of type {type(model).__name__}")
    if bytes_per_value not in (1, 2, 4, 8):
        raise ValueError(f"bytes_per_value should be 4 (float32), 2 (float16) or 8 (float64). "
                         f"Received: bytes_per_value={bytes_per_value!r}")
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        inputs = []
    if not inputs:
        raise ValueError(
            f"layer_table needs the output shape of every layer: build {model.name!r} with "
            "keras.Input (functional API, or keras.Sequential([keras.Input(shape), ...])). "
            "Received: a model without defined inputs")
    table = LayerTable()
    layers = list(model.layers)
    input_names = set()
    for tensor in inputs:
        name = getattr(tensor, "name", "input") or "input"
        history = getattr(tensor, "_keras_history", None)
        if history is not None:
            name = history[0].name
        input_names.add(name)
        shape = _shape_of(tensor)
        table.rows.append(dict(name=name, type="Input", output_shape=shape, activations=_count(shape),
                               memory_bytes=_count(shape) * bytes_per_value, weights=0, params=0,
                               counted=True))
    for layer in layers:
        if type(layer).__name__ == "InputLayer" or layer.name in input_names:
            continue
        try:
            outputs = layer.output
        except (AttributeError, ValueError) as error:
            raise ValueError(
                f"The output shape of layer {layer.name!r} is unknown ({error}). Build the model "
                "with keras.Input so every layer has one.") from None
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        shapes = [_shape_of(t) for t in outputs]
        activations = sum(_count(s) for s in shapes)
        params = int(layer.count_params()) if layer.weights else 0
        biases = sum(int(np.prod(w.shape)) for w in layer.weights
                     if w.path.split("/")[-1] in ("bias", "beta"))
        table.rows.append(dict(
            name=layer.name, type=type(layer).__name__,
            output_shape=shapes[0] if len(shapes) == 1 else tuple(shapes),
            activations=activations, memory_bytes=activations * bytes_per_value,
            weights=params - biases, params=params,
            counted=type(layer).__name__ not in VIEW_LAYERS))
    return table
