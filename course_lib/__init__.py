"""course_lib: the library behind the deep-learning-for-computer-vision labs.

Notebooks import names from here (`from course_lib import load_image_folder`).
Names are resolved lazily, so `import course_lib` is instant and TensorFlow is
imported only by the functions that need it, after its logs were silenced.
"""

import importlib

from course_lib import runtime

__version__ = "0.1.0"

runtime.quiet_tensorflow(import_tensorflow=False)  # env only: no TensorFlow import here

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
    "report_numbers": "course_lib.runtime",
    # data
    "load_fashion_mnist": "course_lib.data.fashion_mnist",
    "FASHION_MNIST_CLASSES": "course_lib.data.fashion_mnist",
    "load_image_folder": "course_lib.data.folders",
    "export_image_folder": "course_lib.data.export",
    "export_tfds_folder": "course_lib.data.tfds",
    "load_tfds": "course_lib.data.tfds",
    "tfds_class_names": "course_lib.data.tfds",
    "DatasetUnavailableError": "course_lib.runtime",
    "scan_image_folder": "course_lib.data.folders",
    "plot_image_batch": "course_lib.data.plots",
    "plot_class_balance": "course_lib.data.plots",
    # models
    "build_toy_cnn": "course_lib.models.classic",
    "build_vgg16": "course_lib.models.classic",
    "build_plain_net": "course_lib.models.classic",
    "build_residual_net": "course_lib.models.classic",
    "vgg_block": "course_lib.models.blocks",
    "residual_block": "course_lib.models.blocks",
    "inception_block": "course_lib.models.blocks",
    "dense_block": "course_lib.models.blocks",
    # diagnostics
    "plot_training_curves": "course_lib.diagnostics.curves",
    "diagnose_history": "course_lib.diagnostics.curves",
    "check_initial_loss": "course_lib.diagnostics.checks",
    "overfit_small_batch": "course_lib.diagnostics.checks",
    "check_regularization_loss": "course_lib.diagnostics.checks",
    "layer_table": "course_lib.diagnostics.tables",
    "conv_output_size": "course_lib.scratch.sizes",
    "trace_shapes": "course_lib.scratch.sizes",
    "plot_filters": "course_lib.diagnostics.filters",
    "plot_feature_maps": "course_lib.diagnostics.filters",
    "plot_kernel_results": "course_lib.diagnostics.filters",
    "plot_confusion_matrix": "course_lib.diagnostics.mistakes",
    "plot_misclassified": "course_lib.diagnostics.mistakes",
    "random_search": "course_lib.diagnostics.search",
    "refine_space": "course_lib.diagnostics.search",
    "plot_search": "course_lib.diagnostics.search",
    # transfer learning (lab 03)
    "build_backbone": "course_lib.models.transfer",
    "build_transfer_model": "course_lib.models.transfer",
    "build_linear_probe": "course_lib.models.transfer",
    "make_augmentation": "course_lib.models.transfer",
    "unfreeze_top_layers": "course_lib.models.transfer",
    "count_trainable_params": "course_lib.models.transfer",
    "find_base_model": "course_lib.models.transfer",
    "make_feature_extractor": "course_lib.models.transfer",
    "build_course_cnn": "course_lib.models.course_cnn",
    "load_course_cnn": "course_lib.models.course_cnn",
    "load_transfer_task": "course_lib.data.transfer_task",
    "load_folder_task": "course_lib.data.transfer_task",
    "make_cluttered_photos": "course_lib.data.transfer_task",
    "compute_embeddings": "course_lib.diagnostics.embeddings",
    "find_nearest_neighbors": "course_lib.diagnostics.embeddings",
    "plot_nearest_neighbors": "course_lib.diagnostics.embeddings",
    "plot_embedding_projection": "course_lib.diagnostics.embeddings",
    # object detection (lab 04)
    "LAB_ANCHORS": "course_lib.models.anchors",
    "make_anchors": "course_lib.models.anchors",
    "encode_boxes": "course_lib.models.anchors",
    "decode_boxes": "course_lib.models.anchors",
    "assign_anchors": "course_lib.models.anchors",
    "make_detection_targets": "course_lib.models.anchors",
    "build_tiny_detector": "course_lib.models.detection",
    "detection_loss": "course_lib.models.detection",
    "DetectionLoss": "course_lib.models.detection",
    "postprocess_detections": "course_lib.models.detection",
    "detect": "course_lib.models.detection",
    "make_sliding_windows": "course_lib.models.rcnn",
    "crop_regions": "course_lib.models.rcnn",
    "make_crop_dataset": "course_lib.models.rcnn",
    "build_crop_classifier": "course_lib.models.rcnn",
    "rcnn_detect": "course_lib.models.rcnn",
    "build_fast_rcnn": "course_lib.models.rcnn",
    "time_detector": "course_lib.models.rcnn",
    "quantize_box": "course_lib.models.rcnn",
    "roi_pool": "course_lib.models.rcnn",
    "roi_align": "course_lib.models.rcnn",
    "make_localization_targets": "course_lib.models.detection",
    "build_localizer": "course_lib.models.detection",
    "evaluate_localizer": "course_lib.models.detection",
    "load_pretrained_detector": "course_lib.models.pretrained_detector",
    "pretrained_detections": "course_lib.models.pretrained_detector",
    "coco_class_name": "course_lib.models.pretrained_detector",
    "coco_mean_average_precision": "course_lib.metrics.detection",
    "plot_boxes": "course_lib.diagnostics.boxes",
    "plot_detections": "course_lib.diagnostics.boxes",
    "plot_nms": "course_lib.diagnostics.boxes",
    "plot_precision_recall": "course_lib.diagnostics.boxes",
    "map_table": "course_lib.diagnostics.boxes",
    # segmentation (lab 05)
    "make_fashion_scenes": "course_lib.data.scenes",
    "SCENE_CLASSES": "course_lib.data.scenes",
    "PET_CLASSES": "course_lib.data.pets",
    "load_pet_segmentation": "course_lib.data.pets",
    "plot_segmentation": "course_lib.data.masks",
    "plot_pixel_balance": "course_lib.data.masks",
    "pixel_class_fractions": "course_lib.data.masks",
    "build_fcn": "course_lib.models.segmentation",
    "build_unet": "course_lib.models.segmentation",
    "transposed_conv_output_size": "course_lib.scratch.transposed_conv",
    "transposed_conv_by_hand": "course_lib.scratch.transposed_conv",
    "plot_checkerboard_demo": "course_lib.scratch.transposed_conv",
    "cosine_decay_by_epoch": "course_lib.models.segmentation",
    "predict_masks": "course_lib.models.segmentation",
    "segmentation_scores": "course_lib.models.segmentation",
    "dense_as_convolution": "course_lib.models.segmentation",
    "make_instance_maps": "course_lib.data.scenes",
    "make_mask_targets": "course_lib.models.mask_head",
    "build_mask_head": "course_lib.models.mask_head",
    "paste_masks": "course_lib.models.mask_head",
    "instance_mask_iou": "course_lib.models.mask_head",
    # recurrent networks (lab 06)
    "make_adding_problem": "course_lib.data.sequences",
    "make_recall_task": "course_lib.data.sequences",
    "gradient_norms_through_time": "course_lib.scratch.rnn",
    "clip_by_global_norm": "course_lib.scratch.optimizers",
    "global_norm": "course_lib.scratch.optimizers",
    "rnn_worked_example": "course_lib.scratch.worked_examples",
    "plot_gradient_norms": "course_lib.scratch.rnn_plots",
    "plot_gate_activations": "course_lib.scratch.rnn_plots",
    # video (lab 08)
    "make_moving_fashion": "course_lib.data.video",
    "MOTION_CLASSES": "course_lib.data.video",
    "load_ucf101_clips": "course_lib.data.video",
    "frame_differences": "course_lib.data.video",
    "stack_frames_as_channels": "course_lib.data.video",
    "plot_clips": "course_lib.data.video",
    "conv3d_output_shape": "course_lib.models.video",
    "VIDEO_MODELS": "course_lib.models.video",
    "build_single_frame_model": "course_lib.models.video",
    "build_early_fusion_model": "course_lib.models.video",
    "build_late_fusion_model": "course_lib.models.video",
    "build_slow_fusion_model": "course_lib.models.video",
    "build_conv3d_model": "course_lib.models.video",
    "build_cnn_lstm_model": "course_lib.models.video",
    "build_two_stream_model": "course_lib.models.video",
    "time_per_clip": "course_lib.models.video",
    "format_video_table": "course_lib.models.video",
    # autoencoders, VAEs, hyperspherical prototypes (lab 07)
    "build_dense_autoencoder": "course_lib.models.autoencoders",
    "build_conv_autoencoder": "course_lib.models.autoencoders",
    "build_vae": "course_lib.models.autoencoders",
    "reparameterize": "course_lib.models.autoencoders",
    "gaussian_kl": "course_lib.models.autoencoders",
    "fit_pca": "course_lib.models.autoencoders",
    "principal_angles": "course_lib.models.autoencoders",
    "linear_probe_accuracy": "course_lib.models.autoencoders",
    "place_prototypes": "course_lib.models.prototypes",
    "prototype_loss": "course_lib.models.prototypes",
    "make_prototype_loss": "course_lib.models.prototypes",
    "predict_prototype_classes": "course_lib.models.prototypes",
    # metrics
    "check_boxes": "course_lib.metrics.boxes",
    "box_iou": "course_lib.metrics.boxes",
    "non_max_suppression": "course_lib.metrics.boxes",
    "average_precision": "course_lib.metrics.detection",
    "precision_recall_curve": "course_lib.metrics.detection",
    "mean_average_precision": "course_lib.metrics.detection",
    "confusion_matrix": "course_lib.metrics.segmentation",
    "per_class_iou": "course_lib.metrics.segmentation",
    "mean_iou": "course_lib.metrics.segmentation",
    "pixel_accuracy": "course_lib.metrics.segmentation",
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
