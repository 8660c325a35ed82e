"""Pure functions on box and point tensors (CPU or CUDA): corners, camera<->LiDAR transforms, points-in-boxes,
rotated BEV and 3-D IoU, rotated NMS. Box layout: ``(x, y, z, dx, dy, dz, heading)``, centred, LiDAR frame."""

from ssal.geometry.boxes import boxes_to_bev_corners, boxes_to_corners_3d, limit_period, rotate_points_z
from ssal.geometry.iou import boxes_iou3d, boxes_iou_bev, boxes_overlap_bev
from ssal.geometry.nms import batched_nms_bev, nms_bev
from ssal.geometry.points_in_boxes import (
    count_points_in_boxes,
    count_points_in_boxes_numpy,
    points_in_boxes,
    points_in_boxes_index,
    points_in_boxes_numpy,
)
from ssal.geometry.transforms import (
    boxes_camera_to_lidar,
    boxes_lidar_to_camera,
    boxes_lidar_to_image,
    camera_to_image,
    camera_to_lidar,
    lidar_to_camera,
)

__all__ = [
    "boxes_to_bev_corners", "boxes_to_corners_3d", "limit_period", "rotate_points_z",
    "boxes_camera_to_lidar", "boxes_lidar_to_camera", "boxes_lidar_to_image",
    "camera_to_image", "camera_to_lidar", "lidar_to_camera",
    "boxes_iou3d", "boxes_iou_bev", "boxes_overlap_bev", "batched_nms_bev", "nms_bev",
    "count_points_in_boxes", "count_points_in_boxes_numpy", "points_in_boxes", "points_in_boxes_index",
    "points_in_boxes_numpy",
]
