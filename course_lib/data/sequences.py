"""Generated sequence tasks with long-range dependence (lab 06), seeded, no download.

Both tasks put the information the target needs at the *start* of a long sequence (or
anywhere in it) and fill the rest with distractors, so that a model must carry it over
many steps: a vanilla RNN stays at the baseline as the sequences grow, an LSTM does not.

    x, y = make_recall_task(2000, sequence_length=50)      # x (2000, 50, 8) one-hot, y (2000,) in 0..3
    x, y = make_adding_problem(2000, sequence_length=50)   # x (2000, 50, 2), y (2000,) in [0, 2]

Shapes follow Keras's recurrent layers: `(num_samples, time, features)`.
"""

import numpy as np

from course_lib._validation import check_int, check_num_classes


def make_recall_task(num_samples=1000, sequence_length=50, num_classes=4, num_distractors=4, seed=1337):
    """Sequences whose label is their first symbol, followed by random distractor symbols.

    Every step is a one-hot vector over `num_classes + num_distractors` symbols. Step 0 holds
    one of the first `num_classes` symbols (the label); steps 1 to T-1 hold random symbols from
    the last `num_distractors`, which say nothing about the label. A model that forgets the
    first step is at chance, `1 / num_classes`.

        step:   0        1      2      ...   T-1
        symbol: label=2  d3     d0     ...   d1      ->  target 2

    Args:
        num_samples: number of sequences.
        sequence_length: T, steps per sequence (>= 2); the label is T-1 steps before the end.
        num_classes: number of possible labels (chance accuracy is 1 / num_classes).
        num_distractors: number of distractor symbols.
        seed: the same seed gives the same arrays.

    Returns:
        `(x, y)`: x float32 `(num_samples, sequence_length, num_classes + num_distractors)`,
        y int32 `(num_samples,)` with values in `[0, num_classes)`, balanced up to rounding.

    Raises:
        ValueError: a size is not a positive int, sequence_length < 2 or num_classes < 2.

    Example:

    >>> x, y = make_recall_task(3, sequence_length=5, seed=0)
    >>> x.shape, bool((x[:, 0, :4].argmax(axis=1) == y).all())
    ((3, 5, 8), True)
    """
    num_samples = check_int(num_samples, "num_samples", example=1000)
    sequence_length = check_int(sequence_length, "sequence_length", minimum=2, example=50)
    num_classes = check_num_classes(num_classes, example=4, hint="Each sequence starts with a label to remember.")
    num_distractors = check_int(num_distractors, "num_distractors", example=4)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(num_samples) % num_classes).astype("int32")
    symbols = num_classes + rng.integers(0, num_distractors, size=(num_samples, sequence_length))
    symbols[:, 0] = y
    x = np.zeros((num_samples, sequence_length, num_classes + num_distractors), dtype="float32")
    np.put_along_axis(x, symbols[..., None], 1.0, axis=2)
    return x, y


def make_adding_problem(num_samples=1000, sequence_length=50, seed=1337):
    """The adding problem: add the two marked numbers of a long sequence.

    This is the variant of Le, Jaitly and Hinton (2015, "A simple way to initialize recurrent
    networks of rectified linear units"), also used by the later RNN literature; the task comes
    from Hochreiter and Schmidhuber (1997), whose original version draws the values in [-1, 1]
    and places the markers differently.

    Each step holds two features: a random number in [0, 1) and a marker, 1 at exactly two
    steps (one in the first half of the sequence, one in the second half) and 0 elsewhere. The
    target is the sum of the two marked numbers. Always predicting 1 (the mean) gives a mean
    squared error of 1/6 = 0.167: the baseline a model must beat.

    Args:
        num_samples: number of sequences.
        sequence_length: T, steps per sequence (>= 2).
        seed: the same seed gives the same arrays.

    Returns:
        `(x, y)`: x float32 `(num_samples, sequence_length, 2)`, y float32 `(num_samples,)` in [0, 2).

    Raises:
        ValueError: a size is not a positive int, or sequence_length < 2.

    Example:

    >>> x, y = make_adding_problem(4, sequence_length=10, seed=0)
    >>> x.shape, bool(np.allclose((x[..., 0] * x[..., 1]).sum(axis=1), y))
    ((4, 10, 2), True)
    """
    num_samples = check_int(num_samples, "num_samples", example=1000)
    sequence_length = check_int(sequence_length, "sequence_length", minimum=2, example=50)
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(num_samples, sequence_length))
    half = sequence_length // 2
    rows = np.arange(num_samples)
    first = rng.integers(0, half, size=num_samples)
    second = rng.integers(half, sequence_length, size=num_samples)
    markers = np.zeros((num_samples, sequence_length))
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=2).astype("float32")
    y = (x[rows, first, 0] + x[rows, second, 0]).astype("float32")
    return x, y
