"""Model input data: preprocessing (resize, crop, normalise) and sample loading.

Used by validation (real inputs), benchmarking and INT8 calibration. The preprocessing recipe is
part of the artifact contract (:mod:`edgeattn.artifact`); it is re-exported here.
"""

from __future__ import annotations

from ..artifact import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from .samples import IMAGE_EXTENSIONS, Samples, load_samples, random_samples
from .stream import SampleStream, stream_samples

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "Preprocessing",
    "SampleStream",
    "Samples",
    "load_samples",
    "random_samples",
    "stream_samples",
]
