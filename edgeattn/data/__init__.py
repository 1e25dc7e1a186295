"""Model input data: preprocessing (resize, crop, normalise) and sample loading.

Used by validation (real inputs), benchmarking and INT8 calibration.
"""

from __future__ import annotations

from .preprocessing import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
    json_metadata_value,
    read_json_metadata,
    read_metadata,
    read_provenance,
)
from .samples import IMAGE_EXTENSIONS, Samples, load_samples, random_samples

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "Preprocessing",
    "Samples",
    "json_metadata_value",
    "load_samples",
    "random_samples",
    "read_json_metadata",
    "read_metadata",
    "read_provenance",
]
