"""Output sizes and parameter counts of convolution and pooling layers, by formula.

    conv_output_size(240, kernel_size=3)                       # 238 ("valid", stride 1)
    conv_output_size(240, kernel_size=3, padding="same")       # 240
    conv_params(kernel_size=3, in_channels=3, filters=48)      # 3*3*3*48 + 48 = 1,344
    trace_shapes((240, 240, 3), [("conv", 48, 3), ("pool", 2), ("conv", 48, 3)])

The formula, for one spatial dimension of size W, kernel K, padding P, stride S:

    out = floor((W - K + 2P) / S) + 1

Keras' padding="valid" is P = 0; padding="same" gives out = ceil(W / S).
"""

from course_lib._validation import check_input_shape, check_int, is_int



def conv_output_size(input_size, kernel_size, stride=1, padding="valid"):
    """Returns the output size of a convolution or pooling along one dimension.

    Args:
        input_size: int, height or width of the input.
        kernel_size: int, size of the kernel (or pooling window).
        stride: int, step between two positions of the kernel.
        padding: "valid" (no padding), "same" (Keras: output = ceil(input / stride)),
            or an int P of zeros added on each side.

    Returns:
        int, the output size.

    Raises:
        ValueError: an argument is out of range, or the kernel does not fit in the
            padded input.

    Example:

    >>> conv_output_size(7, kernel_size=3, stride=2)       # the lecture's 7x7 input
    3
    >>> conv_output_size(32, kernel_size=5, stride=1, padding=2)
    32
    """
    input_size = check_int(input_size, "input_size", example=28)
    kernel_size = check_int(kernel_size, "kernel_size", example=3)
    stride = check_int(stride, "stride", example=1)
    if padding == "same":
        return -(-input_size // stride)
    if padding == "valid":
        pad = 0
    elif is_int(padding) and padding >= 0:
        pad = int(padding)
    else:
        raise ValueError(f'padding should be "valid", "same" or an int >= 0 (zeros on each side). '
                         f"Received: padding={padding!r}")
    if input_size + 2 * pad < kernel_size:
        raise ValueError(
            f"The kernel ({kernel_size}) is larger than the padded input "
            f"({input_size} + 2*{pad} = {input_size + 2 * pad}); use a smaller kernel or more "
            f"padding. Received: input_size={input_size}, kernel_size={kernel_size}, padding={padding!r}")
    return (input_size - kernel_size + 2 * pad) // stride + 1


def conv_params(kernel_size, in_channels, filters, use_bias=True):
    """Returns the number of parameters of a 2D convolution: K*K*C_in*C_out (+ C_out biases).

    Example:

    >>> conv_params(3, in_channels=3, filters=64)     # VGG-16's first layer: 1,728 weights + 64 biases
    1792
    """
    kernel_size = check_int(kernel_size, "kernel_size", example=3)
    in_channels = check_int(in_channels, "in_channels", example=3)
    filters = check_int(filters, "filters", example=32)
    return kernel_size * kernel_size * in_channels * filters + (filters if use_bias else 0)


def trace_shapes(input_shape, layers):
    """Follows an input through a list of conv and pooling layers, as in the lecture's exercise.

    Args:
        input_shape: (height, width, channels).
        layers: list of tuples, each one of
            ("conv", filters, kernel_size[, stride[, padding]]) (default stride 1, "valid"),
            ("pool", pool_size[, stride[, padding]]) (default stride = pool_size, "valid").

    Returns:
        A list of dicts, one per layer: "layer" (a short description), "output_shape"
        (height, width, channels) and "params" (weights and biases).

    Raises:
        ValueError: `input_shape` or a layer tuple is malformed.

    Example (the lecture's exercise):

    >>> for row in trace_shapes((240, 240, 3), [("conv", 48, 3), ("pool", 2), ("conv", 48, 3)]):
    ...     print(row["layer"], row["output_shape"], row["params"])
    conv 48 3x3 (238, 238, 48) 1344
    pool 2x2 stride 2 (119, 119, 48) 0
    conv 48 3x3 (117, 117, 48) 20784
    """
    height, width, channels = check_input_shape(input_shape, example=(240, 240, 3))
    rows = []
    for spec in layers:
        if not isinstance(spec, (tuple, list)) or not spec or spec[0] not in ("conv", "pool"):
            raise ValueError(
                'Each layer should be ("conv", filters, kernel_size[, stride[, padding]]) or '
                f'("pool", pool_size[, stride[, padding]]). Received: {spec!r}')
        if spec[0] == "conv":
            if len(spec) < 3 or len(spec) > 5:
                raise ValueError(f'A conv layer is ("conv", filters, kernel_size[, stride[, padding]]). '
                                 f"Received: {spec!r}")
            _, filters, kernel = spec[:3]
            stride = spec[3] if len(spec) > 3 else 1
            padding = spec[4] if len(spec) > 4 else "valid"
            params = conv_params(kernel, channels, filters)
            height = conv_output_size(height, kernel, stride, padding)
            width = conv_output_size(width, kernel, stride, padding)
            channels = filters
            label = f"conv {filters} {kernel}x{kernel}" + (f" stride {stride}" if stride != 1 else "") \
                + (f" padding {padding}" if padding != "valid" else "")
        else:
            if len(spec) < 2 or len(spec) > 4:
                raise ValueError(f'A pooling layer is ("pool", pool_size[, stride[, padding]]). '
                                 f"Received: {spec!r}")
            size = spec[1]
            stride = spec[2] if len(spec) > 2 else size
            padding = spec[3] if len(spec) > 3 else "valid"
            params = 0
            height = conv_output_size(height, size, stride, padding)
            width = conv_output_size(width, size, stride, padding)
            label = f"pool {size}x{size} stride {stride}"
        rows.append({"layer": label, "output_shape": (height, width, channels), "params": params})
    return rows


def receptive_field(num_layers, kernel_size=3):
    """Receptive field of `num_layers` stacked stride-1 convolutions: 1 + L * (K - 1).

    Three 3x3 layers see 7x7 pixels (like one 7x7 layer) with 3*9*C^2 instead of
    49*C^2 weights: the reason VGG uses only 3x3 kernels.
    """
    num_layers = check_int(num_layers, "num_layers", example=3)
    kernel_size = check_int(kernel_size, "kernel_size", example=3)
    return 1 + num_layers * (kernel_size - 1)


def weight_sharing_params(input_shape, kernel_size=3, filters=32):
    """Parameters of three layers with the same input and output sizes, from no sharing to full sharing.

    All three map `input_shape` (height, width, channels) to the output of a "valid",
    stride-1 convolution, (height - K + 1, width - K + 1, filters), with biases:

    - "fully_connected": every output value sees every input value (a Dense layer on the
      flattened image): inputs * outputs + outputs;
    - "locally_connected": every output value sees only its K x K x channels window, but each
      position has its own weights: positions * (K * K * channels * filters + filters);
    - "convolutional": the same window, and the same weights at every position:
      K * K * channels * filters + filters.

    Example:

    >>> weight_sharing_params((28, 28, 1), kernel_size=3, filters=32)
    {'fully_connected': 16981120, 'locally_connected': 216320, 'convolutional': 320}
    """
    height, width, channels = check_input_shape(input_shape, example=(28, 28, 1))
    kernel_size = check_int(kernel_size, "kernel_size", example=3)
    filters = check_int(filters, "filters", example=32)
    out_h, out_w = height - kernel_size + 1, width - kernel_size + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"kernel_size ({kernel_size}) is larger than the input ({height}x{width}). "
                         f"Received: input_shape={input_shape!r}, kernel_size={kernel_size}")
    outputs = out_h * out_w * filters
    per_position = conv_params(kernel_size, channels, filters)
    return {"fully_connected": height * width * channels * outputs + outputs,
            "locally_connected": out_h * out_w * per_position,
            "convolutional": per_position}
