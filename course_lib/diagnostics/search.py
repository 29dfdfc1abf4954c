"""Random hyper-parameter search, coarse then fine (the lecture prefers random to grid search).

With a grid, 9 trials of 2 hyper-parameters try only 3 values of each; random
search tries 9 values of each, so the one that matters is explored 3x better.

    space = {"learning_rate": ("log", 1e-5, 1e-1), "dropout_rate": ("uniform", 0.0, 0.6)}
    trials = random_search(train_and_score, space, num_trials=8)      # coarse: wide ranges
    fine = refine_space(trials, space)                                  # around the best ones
    trials += random_search(train_and_score, fine, num_trials=8, seed=2)
    plot_search(trials, "learning_rate"); plt.show()

`train_and_score(params) -> float` trains a model with `params` (a dict) for a
few epochs and returns the validation accuracy (higher is better).
"""

import math
import time

import numpy as np

from course_lib._validation import check_int, check_seed

_KINDS = ("log", "uniform", "int")


def _check_space(space):
    if not isinstance(space, dict) or not space:
        raise ValueError(
            'space should be a non-empty dict name -> ("log", low, high), ("uniform", low, high), '
            '("int", low, high) or a list of choices, e.g. {"learning_rate": ("log", 1e-5, 1e-1)}. '
            f"Received: space={space!r}")
    for name, spec in space.items():
        if isinstance(spec, list):
            if not spec:
                raise ValueError(f"space[{name!r}] is an empty list of choices. Received: {spec!r}")
            continue
        if (not isinstance(spec, tuple) or len(spec) != 3 or spec[0] not in _KINDS
                or not all(isinstance(v, (int, float)) for v in spec[1:]) or not spec[1] <= spec[2]):
            raise ValueError(
                f'space[{name!r}] should be ("log", low, high), ("uniform", low, high), '
                f'("int", low, high) with low <= high, or a list of choices. Received: {spec!r}')
        if spec[0] == "log" and spec[1] <= 0:
            raise ValueError(f'space[{name!r}] is a log range, so low should be > 0. Received: {spec!r}')


def sample_hyperparameters(space, num_trials=10, seed=1337):
    """Draws `num_trials` random settings from `space`.

    "log" ranges are sampled uniformly in the exponent (1e-5 .. 1e-1 gives each
    decade the same chance), "uniform" ranges linearly, "int" ranges as
    integers (both ends included), lists as uniform choices.

    Returns:
        A list of dicts name -> value.
    """
    _check_space(space)
    num_trials = check_int(num_trials, "num_trials", example=10)
    rng = np.random.default_rng(check_seed(seed))
    samples = []
    for _ in range(num_trials):
        params = {}
        for name, spec in space.items():
            if isinstance(spec, list):
                params[name] = spec[int(rng.integers(len(spec)))]
            elif spec[0] == "log":
                params[name] = float(10 ** rng.uniform(math.log10(spec[1]), math.log10(spec[2])))
            elif spec[0] == "uniform":
                params[name] = float(rng.uniform(spec[1], spec[2]))
            else:
                params[name] = int(rng.integers(int(spec[1]), int(spec[2]) + 1))
        samples.append(params)
    return samples


def random_search(train_and_score, space, num_trials=10, seed=1337, verbose=True):
    """Runs `train_and_score(params)` on random settings; returns the trials, best first.

    Args:
        train_and_score: function dict -> float (higher is better, e.g. validation accuracy).
        space: dict of ranges, see `sample_hyperparameters`.
        num_trials: int, settings to try.
        seed: int, seed of the sampler (use another for a second round).
        verbose: bool, print one line per trial.

    Returns:
        A list of dicts {"params": ..., "score": ..., "seconds": ...}, sorted by
        decreasing score (NaN scores last).
    """
    if not callable(train_and_score):
        raise ValueError("train_and_score should be a function params -> score. "
                         f"Received: train_and_score={train_and_score!r}")
    trials = []
    for i, params in enumerate(sample_hyperparameters(space, num_trials, seed), start=1):
        start = time.time()
        score = float(train_and_score(dict(params)))
        seconds = time.time() - start
        trials.append({"params": params, "score": score, "seconds": seconds})
        if verbose:
            shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
            print(f"trial {i}/{num_trials}: {shown} -> score {score:.4f} ({seconds:.1f} s)")
    return sorted(trials, key=lambda t: -t["score"] if math.isfinite(t["score"]) else math.inf)


def refine_space(trials, space, top_k=3, margin=0.5):
    """Narrows each numeric range of `space` around the `top_k` best trials (coarse -> fine).

    For a "log" range the new range spans the best values widened by `margin`
    decades on each side; for "uniform" and "int" ranges by `margin` times the
    spread of the best values (at least 10 % of the old range). New ranges stay
    inside the old ones; lists of choices are kept.

    Returns:
        A new space dict.
    """
    _check_space(space)
    finite = [t for t in trials if math.isfinite(t.get("score", float("nan")))] if trials else []
    if not finite:
        raise ValueError("trials should hold at least one trial with a finite score, as returned "
                         f"by random_search. Received: {len(trials or [])} trial(s) without one")
    top_k = check_int(top_k, "top_k", example=3)
    best = sorted(finite, key=lambda t: -t["score"])[:top_k]
    refined = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            refined[name] = list(spec)
            continue
        kind, low, high = spec
        values = [t["params"][name] for t in best if name in t["params"]]
        if not values:
            refined[name] = spec
            continue
        if kind == "log":
            lo = math.log10(min(values)) - margin
            hi = math.log10(max(values)) + margin
            refined[name] = ("log", max(low, 10 ** lo), min(high, 10 ** hi))
        else:
            spread = max(max(values) - min(values), 0.1 * (high - low))
            lo, hi = min(values) - margin * spread, max(values) + margin * spread
            if kind == "int":
                lo, hi = int(math.floor(lo)), int(math.ceil(hi))
            refined[name] = (kind, max(low, lo), min(high, hi))
    return refined


def plot_search(trials, x, y=None, ax=None):
    """Scatter plot of the trials: score against hyper-parameter `x` (or `x` against `y`, coloured by score).

    Log-scale axes are used for hyper-parameters spanning more than two decades.

    Returns:
        The Axes.
    """
    if not trials:
        raise ValueError("trials should be the non-empty list returned by random_search. Received: []")
    missing = [name for name in (x, y) if name is not None and name not in trials[0]["params"]]
    if missing:
        raise ValueError(f"{missing[0]!r} is not a searched hyper-parameter. Searched: "
                         f"{sorted(trials[0]['params'])}. Received: {missing[0]!r}")
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    xs = np.array([t["params"][x] for t in trials], dtype="float64")
    scores = np.array([t["score"] for t in trials], dtype="float64")

    def log_if_wide(values, setter):
        values = values[values > 0]
        if len(values) and values.min() > 0 and values.max() / values.min() > 100:
            setter("log")
    if y is None:
        ax.scatter(xs, scores)
        ax.set_ylabel("score (validation accuracy)")
    else:
        ys = np.array([t["params"][y] for t in trials], dtype="float64")
        points = ax.scatter(xs, ys, c=scores, cmap="viridis")
        ax.figure.colorbar(points, ax=ax, label="score")
        ax.set_ylabel(y)
        log_if_wide(ys, ax.set_yscale)
    log_if_wide(xs, ax.set_xscale)
    ax.set_xlabel(x)
    best = int(np.nanargmax(scores))
    ax.set_title(f"{len(trials)} trials, best {scores[best]:.3f} at {x}={xs[best]:.3g}")
    ax.grid(alpha=0.3)
    return ax
