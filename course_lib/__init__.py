"""course_lib: the library behind the deep-learning-for-computer-vision labs.

Notebooks import names from here (`from course_lib import load_image_folder`).
Names are resolved lazily, so `import course_lib` is instant and TensorFlow is
imported only by the functions that need it, after its logs were silenced.
"""

import importlib

from course_lib import runtime

__version__ = "0.1.0"

runtime.quiet_tensorflow()

# name -> module that defines it. Add a line when a module gains a public name.
_EXPORTS = {
    # runtime
    "is_fast_mode": "course_lib.runtime",
    "pick": "course_lib.runtime",
    "set_seed": "course_lib.runtime",
    "in_colab": "course_lib.runtime",
    "cache_dir": "course_lib.runtime",
    "get_strategy": "course_lib.runtime",
    "setup_notebook": "course_lib.runtime",
    # data
    "load_fashion_mnist": "course_lib.data.fashion_mnist",
    "FASHION_MNIST_CLASSES": "course_lib.data.fashion_mnist",
    "load_image_folder": "course_lib.data.folders",
    "export_image_folder": "course_lib.data.folders",
    "export_tfds_folder": "course_lib.data.folders",
    "scan_image_folder": "course_lib.data.folders",
    "plot_image_batch": "course_lib.data.folders",
    "plot_class_balance": "course_lib.data.folders",
    # diagnostics
    "plot_training_curves": "course_lib.diagnostics.curves",
    "diagnose_history": "course_lib.diagnostics.curves",
}


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS) + ["runtime", "__version__"]
