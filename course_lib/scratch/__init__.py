"""Deep networks from scratch in NumPy (labs 01, 02, 06): layers, losses, optimizers, training, checks,
convolution and max pooling by hand (conv.py), RNN and LSTM cells (rnn.py).

NumPy only: TensorFlow appears in the tests alone, as the reference every backward
pass is compared with.

    from course_lib.scratch import build_mlp, SoftmaxCrossEntropy, Adam
    model = build_mlp(784, (256, 128), 10)
    model.compile(loss=SoftmaxCrossEntropy(), optimizer=Adam(1e-3))
    history = model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=2)
"""

from course_lib.scratch.conv import convolve2d, correlate2d, max_pool2d, max_pool2d_backward
from course_lib.scratch.gradcheck import check_gradients, relative_error
from course_lib.scratch.layers import (Dense, Flatten, Layer, ReLU, Sigmoid, Tanh, dense_backward,
                                       get_activation, sigmoid)
from course_lib.scratch.losses import (BinaryCrossEntropy, Loss, MeanSquaredError, SoftmaxCrossEntropy,
                                       log_softmax, naive_softmax, one_hot, softmax,
                                       softmax_cross_entropy_grad)
from course_lib.scratch.network import History, Sequential, build_mlp, collapse_linear_layers
from course_lib.scratch.optimizers import (SGD, Adam, ExponentialDecay, InverseTimeDecay, Optimizer,
                                           sgd_momentum_step)
from course_lib.scratch.perceptron import Perceptron, make_logic_gate
from course_lib.scratch.plots import plot_decision_boundary, plot_histories
from course_lib.scratch.worked_example import WorkedExample, worked_example

__all__ = [
    "Adam", "BinaryCrossEntropy", "Dense", "ExponentialDecay", "Flatten", "History",
    "InverseTimeDecay", "Layer", "Loss", "MeanSquaredError", "Optimizer", "Perceptron", "ReLU",
    "SGD", "Sequential", "Sigmoid", "SoftmaxCrossEntropy", "Tanh", "WorkedExample", "build_mlp",
    "check_gradients", "collapse_linear_layers", "convolve2d", "correlate2d", "dense_backward", "get_activation", "log_softmax",
    "make_logic_gate", "max_pool2d", "max_pool2d_backward", "naive_softmax", "one_hot", "plot_decision_boundary", "plot_histories",
    "relative_error", "sgd_momentum_step", "sigmoid", "softmax", "softmax_cross_entropy_grad",
    "worked_example",
]
