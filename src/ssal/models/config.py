"""Typed configuration of the detectors (the ``model:`` block of a run's YAML).

Every YAML key maps 1:1 onto a dataclass field below (``ssal.config`` reads the YAML); an unknown key, a wrong type
or an inconsistent setting is an ``SsalError`` naming the file, the key (``model.vfe.num_filters``) and what was
expected. ``class_names``,
``point_cloud_range`` and ``voxel_size`` live here because the data loader crops and filters with them too.

The defaults are the ``kitti`` preset (PointPillars grid at 0.16 m, PV-RCNN anchors, targets and post-processing);
``configs/_models/{tiny,cpu,kitti,waymo}.yaml`` are the presets a run starts from.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from ssal.errors import SsalError

KITTI_RANGE = [0.0, -39.68, -3.0, 69.12, 39.68, 1.0]


@dataclass
class PillarVfeConfig:
    """Pillarisation and the pillar feature net (PFN)."""

    num_filters: list[int] = field(default_factory=lambda: [64])  # PFN layer widths; the last is the BEV channels
    max_points_per_pillar: int = 32  # a fuller pillar keeps this many points, chosen by a fixed hash of each point
    max_pillars_train: int = 16000  # per frame; over the cap, pillars are dropped by a fixed hash of their cell
    max_pillars_test: int = 40000  # same, in eval mode
    use_absolute_xyz: bool = True  # feed x, y, z themselves besides the offsets to the pillar mean and centre


@dataclass
class BevBackboneConfig:
    """OpenPCDet BaseBEVBackbone: strided conv blocks, each up-sampled back to one resolution and concatenated."""

    layer_nums: list[int] = field(default_factory=lambda: [3, 5, 5])  # 3x3 convs after each block's strided conv
    layer_strides: list[int] = field(default_factory=lambda: [2, 2, 2])  # stride of each block's first conv
    num_filters: list[int] = field(default_factory=lambda: [64, 128, 256])  # channels of each block
    upsample_strides: list[int] = field(default_factory=lambda: [1, 2, 4])  # transposed-conv stride per block
    num_upsample_filters: list[int] = field(default_factory=lambda: [128, 128, 128])  # channels after up-sampling


@dataclass
class AnchorClassConfig:
    """The anchors of one class and the IoU thresholds that make them positive or negative."""

    class_name: str = "Car"  # must be one of ModelConfig.class_names
    size: list[float] = field(default_factory=lambda: [3.9, 1.6, 1.56])  # (length dx, width dy, height dz), metres
    bottom_height: float = -1.78  # z of the anchor's bottom face in the LiDAR frame
    rotations: list[float] = field(default_factory=lambda: [0.0, 1.57])  # headings, one anchor each per cell
    matched_threshold: float = 0.6  # BEV IoU >= this: positive
    unmatched_threshold: float = 0.45  # BEV IoU < this: negative (in between: ignored)


def _kitti_anchors() -> list[AnchorClassConfig]:
    return [
        AnchorClassConfig("Car", [3.9, 1.6, 1.56], -1.78, [0.0, 1.57], 0.6, 0.45),
        AnchorClassConfig("Pedestrian", [0.8, 0.6, 1.73], -0.6, [0.0, 1.57], 0.5, 0.35),
        AnchorClassConfig("Cyclist", [1.76, 0.6, 1.73], -0.6, [0.0, 1.57], 0.5, 0.35),
    ]


@dataclass
class AnchorHeadConfig:
    """The region-proposal head: per-class anchors, targets and losses (OpenPCDet AnchorHeadSingle)."""

    anchors: list[AnchorClassConfig] = field(default_factory=_kitti_anchors)  # one entry per detected class
    matching_iou: Literal["axis_aligned", "rotated"] = "axis_aligned"  # BEV IoU used for target assignment
    num_dir_bins: int = 2  # direction classifier bins
    dir_offset: float = 0.78539  # direction bins start at this heading (pi/4)
    focal_alpha: float = 0.25  # sigmoid focal loss alpha
    focal_gamma: float = 2.0  # sigmoid focal loss gamma
    cls_weight: float = 1.0  # weight of loss_rpn_cls
    box_weight: float = 2.0  # weight of loss_rpn_box (smooth-L1 on residuals, sin-difference heading)
    dir_weight: float = 0.2  # weight of loss_rpn_dir
    smooth_l1_beta: float = 1.0 / 9.0  # transition point of the smooth-L1 loss


@dataclass
class ProposalConfig:
    """Top-k and rotated NMS that turn RPN boxes into RoIs for the second stage."""

    train_pre_nms: int = 4096  # best-scoring RPN boxes per frame entering NMS in training (PV-RCNN: 9000)
    train_post_nms: int = 512  # RoIs kept per frame in training (PV-RCNN: 512)
    train_nms_iou: float = 0.8  # BEV IoU threshold of the proposal NMS in training
    test_pre_nms: int = 1024  # same, eval mode
    test_post_nms: int = 100
    test_nms_iou: float = 0.7


@dataclass
class RoiHeadConfig:
    """Class-agnostic second stage: rotated RoI-grid pooling from the BEV map, shared MLP, IoU-guided score, refinement."""

    grid_size: int = 7  # grid points per RoI side (grid_size**2 per RoI), in the RoI's canonical frame
    pool_channels: int = 64  # 1x1 conv reduces the BEV map to this many channels before pooling
    pool_extra_width: float = 0.5  # metres added to each side of the RoI before pooling (context)
    shared_fc: list[int] = field(default_factory=lambda: [256, 256])  # shared MLP; the last width is the RoI feature
    cls_fc: list[int] = field(default_factory=lambda: [256, 256])  # hidden layers of the IoU-guided score branch
    reg_fc: list[int] = field(default_factory=lambda: [256, 256])  # hidden layers of the box-refinement branch
    dropout: float = 0.3  # dropout after hidden layers (switchable at inference for MC-dropout)
    rois_per_frame: int = 128  # RoIs sampled per frame for the losses
    fg_ratio: float = 0.5  # fraction of sampled RoIs that are foreground (when there are enough)
    reg_fg_threshold: float = 0.55  # 3-D IoU with GT >= this: foreground, refined by the regression loss
    cls_fg_threshold: float = 0.75  # IoU >= this: score target 1
    cls_bg_threshold: float = 0.25  # IoU <= this: score target 0 (linear in between)
    cls_bg_threshold_lo: float = 0.1  # IoU < this: easy background; in [this, reg_fg_threshold): hard background
    hard_bg_ratio: float = 0.8  # fraction of the sampled background that is hard
    sample_by_class: bool = True  # IoU of a RoI counts only GT boxes of the RoI's (RPN) class
    add_gt_to_rois: bool = False  # in training, also offer the GT boxes as RoIs (faster start from scratch)
    cls_weight: float = 1.0  # weight of loss_rcnn_cls (BCE on the IoU target)
    reg_weight: float = 1.0  # weight of loss_rcnn_reg (smooth-L1 on canonical residuals)
    corner_weight: float = 1.0  # weight of loss_rcnn_corner
    smooth_l1_beta: float = 1.0 / 9.0
    # A second-stage direction check (not in PV-RCNN, whose head only turns a box by less than 90 degrees): a logit
    # on a branch of its own says whether the object faces opposite its RoI, and the box is turned round when it
    # does. The first stage must tell front from back at every heading from a rotation-variant map; in the RoI's
    # own frame a facing cue (a bonnet, a walker's lean) looks the same whatever the heading.
    direction_check: bool = False
    direction_weight: float = 0.2  # weight of loss_rcnn_dir (BCE on foreground RoIs)
    # The check's own hidden layers. It reads the shared RoI feature detached: trained through it, the check cost
    # 5-7 points of Car 3-D AP on the synthetic world (docs/results.md); a turned box has the same IoU.
    direction_fc: list[int] = field(default_factory=lambda: [256])
    # [nx, ny, nz]: describe each RoI also by its own points, binned in this grid in the RoI's frame over the RoI
    # enlarged by point_grid_margin metres per side, half that in height (ssal.models.roi_point_grid; empty: not
    # computed). The direction check reads it: pedestrian facing is a few centimetres of shape, gone in the 0.32 m
    # pillar map. With point_grid_shared the shared MLP reads it too (then it shapes the score and the box).
    point_grid: list[int] = field(default_factory=list)
    point_grid_margin: float = 0.2
    point_grid_shared: bool = False
    # Also pool the RoI grid from the pillar map (the VFE's output, the finest map there is: 0.32 m on `cpu`) beside
    # the backbone's strided map. A walker is one or two cells of a 0.64 m map; the finer cells show more of its shape
    # (on for `cpu`: +10 to +14 points of Pedestrian 3-D AP, +12 to +20 Cyclist; facing gained nothing, see
    # docs/results.md). The sampled pillar features are reduced per grid point to pool_channels (a linear layer on
    # the samples, not a convolution over the whole map).
    pool_pillar_map: bool = False


@dataclass
class PostProcessingConfig:
    """What eval mode returns: score threshold, class-agnostic rotated NMS, a cap, sorted by score."""

    score_threshold: float = 0.1  # boxes scoring below this are dropped
    nms_iou: float = 0.1  # BEV IoU threshold of the final NMS (KITTI 0.1, Waymo 0.7)
    pre_max_boxes: int = 4096  # best boxes entering NMS
    max_boxes: int = 500  # boxes returned per frame at most


@dataclass
class ModelConfig:
    """A detector: its name in the registry, the grid it sees and the configuration of every stage."""

    name: str = "pillar_rcnn"  # registry key (see ssal.models.registry)
    class_names: list[str] = field(default_factory=lambda: ["Car", "Pedestrian", "Cyclist"])  # class id = index + 1
    point_cloud_range: list[float] = field(default_factory=lambda: list(KITTI_RANGE))  # x0, y0, z0, x1, y1, z1
    voxel_size: list[float] = field(default_factory=lambda: [0.16, 0.16, 4.0])  # pillar size x, y (z: range height)
    num_point_features: int = 4  # x, y, z + extra features per point (KITTI intensity: 4; Waymo + elongation: 5)
    bn_momentum: float = 0.01  # of every batch norm's running statistics (OpenPCDet's 0.01 suits long schedules)
    vfe: PillarVfeConfig = field(default_factory=PillarVfeConfig)
    backbone: BevBackboneConfig = field(default_factory=BevBackboneConfig)
    anchor_head: AnchorHeadConfig = field(default_factory=AnchorHeadConfig)
    proposals: ProposalConfig = field(default_factory=ProposalConfig)
    roi_head: RoiHeadConfig = field(default_factory=RoiHeadConfig)
    post_processing: PostProcessingConfig = field(default_factory=PostProcessingConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def grid_size(self) -> tuple[int, int]:
        """Pillars along x and y, ``(nx, ny)``."""
        r, v = self.point_cloud_range, self.voxel_size
        return round((r[3] - r[0]) / v[0]), round((r[4] - r[1]) / v[1])

    @property
    def feature_stride(self) -> int:
        """Pillars per cell of the backbone's output map (the map the heads read)."""
        return self.backbone.layer_strides[0] // self.backbone.upsample_strides[0]

    def validate(self, where: str = "model") -> None:
        """Raise ``SsalError`` naming the first inconsistent key."""
        _check_geometry(self, where)
        _check_backbone(self, where)
        _check_anchors(self, where)
        _check_positive_ints(self, where)
        _check_fractions(self, where)


def load_model_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> ModelConfig:
    """The validated ``model:`` block of a YAML file (``_base_`` inheritance and ``model.a.b=value`` overrides as
    in ``ssal.config``)."""
    from ssal.config.loader import load_config  # here, not at the top: the run config's schema imports this module

    return load_config(path, _ModelFile, overrides).model


@dataclass
class _ModelFile:
    model: ModelConfig = field(default_factory=ModelConfig)


# ---------------------------------------------------------------------------------------------------------------
# validation


def _check_geometry(cfg: ModelConfig, where: str) -> None:
    r, v = cfg.point_cloud_range, cfg.voxel_size
    if len(cfg.class_names) == 0 or len(set(cfg.class_names)) != len(cfg.class_names):
        raise SsalError(f"expected a non-empty list of distinct names, got {cfg.class_names}", f"{where}.class_names")
    if len(r) != 6 or not all(r[i] < r[i + 3] for i in range(3)):
        raise SsalError(f"expected [x0, y0, z0, x1, y1, z1] with x0 < x1, y0 < y1, z0 < z1, got {r}",
                        f"{where}.point_cloud_range")
    if len(v) != 3 or not all(s > 0 for s in v):
        raise SsalError(f"expected three positive sizes [dx, dy, dz], got {v}", f"{where}.voxel_size")
    for axis, name in ((0, "x"), (1, "y")):
        extent = r[axis + 3] - r[axis]
        cells = extent / v[axis]
        if abs(cells - round(cells)) > 1e-4:
            raise SsalError(f"the {name} extent {extent:g} m of point_cloud_range is not a multiple of the "
                            f"pillar size {v[axis]:g} m; expected a size that divides it", f"{where}.voxel_size")
    if cfg.num_point_features < 3:
        raise SsalError(f"expected >= 3 (x, y, z, ...), got {cfg.num_point_features}", f"{where}.num_point_features")


def _check_backbone(cfg: ModelConfig, where: str) -> None:
    b, key = cfg.backbone, f"{where}.backbone"
    n = len(b.layer_nums)
    for name in ("layer_strides", "num_filters", "upsample_strides", "num_upsample_filters"):
        if len(getattr(b, name)) != n:
            raise SsalError(f"expected {n} entries (one per block, like layer_nums), got {getattr(b, name)}",
                            f"{key}.{name}")
    if n == 0 or any(s < 1 for s in b.layer_strides + b.upsample_strides) or any(x < 0 for x in b.layer_nums):
        raise SsalError("expected at least one block, strides >= 1 and layer counts >= 0", key)
    cumulative, strides = 1, []
    for stride, up in zip(b.layer_strides, b.upsample_strides):
        cumulative *= stride
        if cumulative % up:
            raise SsalError(f"block stride {cumulative} is not a multiple of its up-sampling stride {up}",
                            f"{key}.upsample_strides")
        strides.append(cumulative // up)
    if len(set(strides)) != 1:
        raise SsalError(f"expected every up-sampled block at one resolution, got strides {strides}",
                        f"{key}.upsample_strides")
    nx, ny = cfg.grid_size
    if nx % strides[0] or ny % strides[0]:
        raise SsalError(f"the {nx} x {ny} pillar grid is not divisible by the output stride {strides[0]}",
                        f"{key}.layer_strides")


def _check_anchors(cfg: ModelConfig, where: str) -> None:
    anchors = cfg.anchor_head.anchors
    key = f"{where}.anchor_head.anchors"
    if not anchors:
        raise SsalError("expected one anchor entry per class", key)
    for i, a in enumerate(anchors):
        k = f"{key}[{i}]"
        if a.class_name not in cfg.class_names:
            raise SsalError(f"class {a.class_name!r} is not in class_names {cfg.class_names}", f"{k}.class_name")
        if len(a.size) != 3 or not all(s > 0 for s in a.size):
            raise SsalError(f"expected three positive sizes [length, width, height], got {a.size}", f"{k}.size")
        if not a.rotations:
            raise SsalError("expected at least one rotation", f"{k}.rotations")
        if not 0.0 <= a.unmatched_threshold <= a.matched_threshold <= 1.0:
            raise SsalError(f"expected 0 <= unmatched_threshold <= matched_threshold <= 1, got "
                            f"{a.unmatched_threshold} and {a.matched_threshold}", k)
    names = [a.class_name for a in anchors]
    if sorted(names) != sorted(cfg.class_names):
        raise SsalError(f"expected exactly one anchor entry per class of {cfg.class_names}, got {names}", key)
    if len({len(a.rotations) for a in anchors}) != 1:
        raise SsalError("expected the same number of rotations for every class", key)


def _check_positive_ints(cfg: ModelConfig, where: str) -> None:
    checks = {
        "vfe.max_points_per_pillar": cfg.vfe.max_points_per_pillar,
        "vfe.max_pillars_train": cfg.vfe.max_pillars_train,
        "vfe.max_pillars_test": cfg.vfe.max_pillars_test,
        "anchor_head.num_dir_bins": cfg.anchor_head.num_dir_bins,
        "proposals.train_pre_nms": cfg.proposals.train_pre_nms,
        "proposals.train_post_nms": cfg.proposals.train_post_nms,
        "proposals.test_pre_nms": cfg.proposals.test_pre_nms,
        "proposals.test_post_nms": cfg.proposals.test_post_nms,
        "roi_head.grid_size": cfg.roi_head.grid_size,
        "roi_head.pool_channels": cfg.roi_head.pool_channels,
        "roi_head.rois_per_frame": cfg.roi_head.rois_per_frame,
        "post_processing.pre_max_boxes": cfg.post_processing.pre_max_boxes,
        "post_processing.max_boxes": cfg.post_processing.max_boxes,
    }
    lists = {
        "vfe.num_filters": cfg.vfe.num_filters,
        "backbone.num_filters": cfg.backbone.num_filters,
        "backbone.num_upsample_filters": cfg.backbone.num_upsample_filters,
        "roi_head.shared_fc": cfg.roi_head.shared_fc,
    }
    for key, value in checks.items():
        if value < 1:
            raise SsalError(f"expected a positive integer, got {value}", f"{where}.{key}")
    for key, value in lists.items():
        if not value or any(v < 1 for v in value):
            raise SsalError(f"expected a non-empty list of positive sizes, got {value}", f"{where}.{key}")
    for key in ("cls_fc", "reg_fc", "direction_fc"):
        value = getattr(cfg.roi_head, key)
        if any(v < 1 for v in value):
            raise SsalError(f"expected positive layer sizes, got {value}", f"{where}.roi_head.{key}")
    grid = cfg.roi_head.point_grid
    if grid and (len(grid) != 3 or any(v < 1 for v in grid)):
        raise SsalError(f"expected [nx, ny, nz] positive cell counts or [], got {grid}",
                        f"{where}.roi_head.point_grid")
    if cfg.roi_head.point_grid_margin < 0:
        raise SsalError(f"expected a margin >= 0 metres, got {cfg.roi_head.point_grid_margin}",
                        f"{where}.roi_head.point_grid_margin")
    if cfg.roi_head.point_grid_shared and not grid:
        raise SsalError("point_grid_shared needs a point_grid [nx, ny, nz]", f"{where}.roi_head.point_grid_shared")


def _check_fractions(cfg: ModelConfig, where: str) -> None:
    r = cfg.roi_head
    fractions = {
        "bn_momentum": cfg.bn_momentum, "roi_head.dropout": r.dropout, "roi_head.fg_ratio": r.fg_ratio, "roi_head.hard_bg_ratio": r.hard_bg_ratio,
        "roi_head.reg_fg_threshold": r.reg_fg_threshold, "roi_head.cls_fg_threshold": r.cls_fg_threshold,
        "roi_head.cls_bg_threshold": r.cls_bg_threshold, "roi_head.cls_bg_threshold_lo": r.cls_bg_threshold_lo,
        "proposals.train_nms_iou": cfg.proposals.train_nms_iou, "proposals.test_nms_iou": cfg.proposals.test_nms_iou,
        "post_processing.score_threshold": cfg.post_processing.score_threshold,
        "post_processing.nms_iou": cfg.post_processing.nms_iou,
    }
    for key, value in fractions.items():
        if not 0.0 <= value <= 1.0:
            raise SsalError(f"expected a value in [0, 1], got {value}", f"{where}.{key}")
    if r.dropout >= 1.0:
        raise SsalError(f"expected a dropout probability below 1, got {r.dropout}", f"{where}.roi_head.dropout")
    if not r.cls_bg_threshold < r.cls_fg_threshold:
        raise SsalError("expected cls_bg_threshold < cls_fg_threshold", f"{where}.roi_head.cls_bg_threshold")
