"""A tiny SE network exported with the dynamo exporter, with edgeattn metadata filled in here.

The metadata (blocks, probes, provenance) is derived from the exporter's ``name_scopes`` node
metadata, independently of edgeattn.export, so these tests do not depend on the export pass.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _tiny_se import export_tiny  # noqa: E402


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    return export_tiny(folder)
