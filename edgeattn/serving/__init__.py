"""Serving at scale: Triton Inference Server model repositories from edgeattn artifacts.

``write_repository(repo, artifacts, RepositoryOptions(...))`` writes (or adds a version to) a
Triton model repository; ``TritonServer`` runs a local ``tritonserver`` on one. See docs/serving.md.
"""

from __future__ import annotations

from .artifact_info import ArtifactInfo, TensorInfo, describe_artifact
from .repository import RepositoryOptions, RepositoryResult, WrittenModel, check_model_name, write_repository
from .server import ServerError, TritonInstall, TritonServer, batch_statistics, find_triton

__all__ = [
    "ArtifactInfo",
    "RepositoryOptions",
    "RepositoryResult",
    "ServerError",
    "TensorInfo",
    "TritonInstall",
    "TritonServer",
    "WrittenModel",
    "batch_statistics",
    "check_model_name",
    "describe_artifact",
    "find_triton",
    "write_repository",
]
