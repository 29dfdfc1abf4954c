"""Evaluation metrics for detection and segmentation (labs 05-06), in NumPy.

NumPy only: TensorFlow and Keras appear in the tests alone, as the references
(`tf.image.non_max_suppression`, `keras.utils.bounding_boxes.compute_iou`,
`keras.metrics.MeanIoU`) the results are compared with.

    from course_lib.metrics import box_iou, non_max_suppression, mean_average_precision, mean_iou
    keep = non_max_suppression(boxes, scores, iou_threshold=0.5)
    mean_average_precision(detections, ground_truths)["map"]
    mean_iou(masks, predicted_masks, num_classes=21, ignore_index=255)
"""

from course_lib.metrics.boxes import box_iou, check_boxes, non_max_suppression
from course_lib.metrics.detection import (average_precision, coco_mean_average_precision, mean_average_precision,
                                          precision_recall_curve)
from course_lib.metrics.segmentation import confusion_matrix, mean_iou, per_class_iou, pixel_accuracy

__all__ = [
    "average_precision", "box_iou", "check_boxes", "coco_mean_average_precision", "confusion_matrix",
    "mean_average_precision", "mean_iou", "non_max_suppression", "per_class_iou", "pixel_accuracy",
    "precision_recall_curve",
]
