"""ssal: label-efficient LiDAR 3D object detection (S-SSAL: CPSP pre-training + collaborative active learning)."""

__version__ = "0.1.0"
