"""Deep networks from scratch in NumPy (labs 01, 02, 06): layers, losses, optimizers, training, checks,
convolution and max pooling by hand (conv.py), transposed convolution by hand (transposed_conv.py),
output sizes and parameter counts by formula (sizes.py), the RNN (rnn.py) and the LSTM (lstm.py).

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
from course_lib.scratch.lstm import LSTM, LSTMCell, lstm_cell_update, lstm_step
from course_lib.scratch.losses import (BinaryCrossEntropy, Loss, MeanSquaredError, SoftmaxCrossEntropy,
                                       log_softmax, naive_softmax, one_hot, softmax,
                                       softmax_cross_entropy_grad)
from course_lib.scratch.network import History, Sequential, build_mlp, collapse_linear_layers
from course_lib.scratch.optimizers import (SGD, Adam, ExponentialDecay, InverseTimeDecay, Optimizer,
                                           clip_by_global_norm, global_norm, sgd_momentum_step)
from course_lib.scratch.perceptron import Perceptron, make_logic_gate
from course_lib.scratch.plots import plot_decision_boundary, plot_histories
from course_lib.scratch.rnn import RNN, RNNCell, SimpleRNN, gradient_norms_through_time, rnn_step, rnn_step_backward
from course_lib.scratch.rnn_plots import plot_gate_activations, plot_gradient_norms
from course_lib.scratch.sizes import (conv_output_size, conv_params, receptive_field, trace_shapes,
                                      weight_sharing_params)
from course_lib.scratch.transposed_conv import (bilinear_upsampling_kernel, checkerboard_demo, insert_zeros,
                                                plot_checkerboard_demo, transposed_conv_by_hand,
                                                transposed_conv_output_size)
from course_lib.scratch.worked_examples import RNNWorkedExample, WorkedExample, rnn_worked_example, worked_example

__all__ = [
    "Adam", "BinaryCrossEntropy", "bilinear_upsampling_kernel", "build_mlp", "checkerboard_demo",
    "conv_output_size", "conv_params", "insert_zeros", "plot_checkerboard_demo", "receptive_field",
    "trace_shapes", "transposed_conv_by_hand", "transposed_conv_output_size", "weight_sharing_params", "check_gradients", "clip_by_global_norm",
    "collapse_linear_layers", "convolve2d", "correlate2d", "Dense", "dense_backward", "ExponentialDecay",
    "Flatten", "get_activation", "global_norm", "gradient_norms_through_time", "History",
    "InverseTimeDecay", "Layer", "log_softmax", "Loss", "LSTM", "lstm_cell_update", "lstm_step", "LSTMCell",
    "make_logic_gate", "max_pool2d", "max_pool2d_backward", "MeanSquaredError", "naive_softmax", "one_hot",
    "Optimizer", "Perceptron", "plot_decision_boundary", "plot_gate_activations", "plot_gradient_norms",
    "plot_histories", "relative_error", "ReLU", "RNN", "rnn_step", "rnn_step_backward",
    "rnn_worked_example", "RNNCell", "RNNWorkedExample", "Sequential", "SGD", "sgd_momentum_step",
    "Sigmoid", "sigmoid", "SimpleRNN", "softmax", "softmax_cross_entropy_grad", "SoftmaxCrossEntropy",
    "Tanh", "worked_example", "WorkedExample",
]
