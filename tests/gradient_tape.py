"""The reference the from-scratch tests compare with: values and gradients by tf.GradientTape, in float64."""

import tensorflow as tf

TOL = 1e-7  # the bar for a backward pass against the tape; float64 reaches ~1e-15


def tape_grads(fn, *arrays):
    """Returns fn's value and its gradients with respect to each array, by tf.GradientTape."""
    variables = [tf.Variable(a, dtype=tf.float64) for a in arrays]
    with tf.GradientTape() as tape:
        value = fn(*variables)
    return value.numpy(), [g.numpy() for g in tape.gradient(value, variables)]
