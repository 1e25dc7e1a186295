"""An artifact names its model source; validate must not run that code unless the user allows it.

Each payload writes a marker file when imported, so "did not run" is observed, not assumed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

import edgeattn
from edgeattn.cli import app
from edgeattn.errors import ParityError, UntrustedSourceError
from edgeattn.validation.reference import resolve_reference

PAYLOAD = '''
from pathlib import Path
Path({marker!r}).write_text("ran")
import torch
from torch import nn

def create(num_classes=10):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, num_classes)).eval()
'''


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An artifact exported from ``payload.py:create``; the marker is removed after export."""
    folder = tmp_path_factory.mktemp("trust")
    marker = folder / "marker"
    payload = folder / "payload.py"
    payload.write_text(PAYLOAD.format(marker=str(marker)))
    artifact = folder / "m.onnx"
    edgeattn.export(f"{payload}:create", artifact, input_shape=(1, 3, 8, 8), opset=17)
    return artifact, payload, marker


def _crafted(folder: Path, source: str, *, in_sidecar: bool = False, **extra: object) -> Path:
    """A valid one-node ONNX whose provenance names ``source`` (in metadata or only in the sidecar)."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["logits"])],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, 4, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    provenance = {"source": source, **extra}
    path = folder / "crafted.onnx"
    if in_sidecar:
        (folder / "crafted.onnx.json").write_text(json.dumps({"provenance": provenance}))
    else:
        helper.set_model_props(model, {"edgeattn.provenance": json.dumps(provenance)})
    onnx.save(model, path)
    return path


def test_recorded_file_factory_is_refused_without_opt_in(exported):
    artifact, payload, marker = exported
    marker.unlink(missing_ok=True)
    with pytest.raises(UntrustedSourceError, match=r"payload\.py:create.*refusing") as info:
        edgeattn.validate(artifact, num_samples=1)
    assert "--trust-provenance" in info.value.hint
    assert not marker.exists()

    result = CliRunner().invoke(app, ["validate", str(artifact), "-n", "1"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "payload.py:create" in result.output
    assert not marker.exists()


def test_trusted_file_factory_runs_when_its_sha256_matches(exported):
    artifact, payload, marker = exported
    marker.unlink(missing_ok=True)
    report = edgeattn.validate(artifact, num_samples=2, trust_provenance=True)
    assert report.passed
    assert marker.exists()  # the recorded file ran, as asked


def test_trusted_file_factory_is_refused_once_the_file_changed(exported, tmp_path):
    artifact, payload, marker = exported
    original = payload.read_text()
    try:
        payload.write_text(original + "\n# edited after export\n")
        marker.unlink(missing_ok=True)
        with pytest.raises(UntrustedSourceError, match="has changed since"):
            edgeattn.validate(artifact, num_samples=1, trust_provenance=True)
        assert not marker.exists()
    finally:
        payload.write_text(original)


def test_an_explicit_model_is_used_and_the_recorded_one_is_not_run(exported):
    artifact, payload, marker = exported
    marker.unlink(missing_ok=True)
    other = payload.with_name("other.py")
    other.write_text(PAYLOAD.format(marker=str(payload.with_name("other_marker"))))
    report = edgeattn.validate(artifact, model=f"{other}:create", num_samples=2)
    assert report.passed
    assert not marker.exists()


@pytest.mark.parametrize("in_sidecar", [False, True])
def test_crafted_file_source_without_a_recorded_hash_is_refused_even_trusted(tmp_path, in_sidecar):
    marker = tmp_path / "marker"
    (tmp_path / "payload.py").write_text(PAYLOAD.format(marker=str(marker)))
    artifact = _crafted(tmp_path, str(tmp_path / "payload.py") + ":create", in_sidecar=in_sidecar)
    with pytest.raises(UntrustedSourceError, match="refusing"):
        edgeattn.validate(artifact, num_samples=1)
    with pytest.raises(UntrustedSourceError, match="records no sha256"):
        edgeattn.validate(artifact, num_samples=1, trust_provenance=True)
    assert not marker.exists()


def test_crafted_hash_of_another_file_does_not_make_a_payload_trusted(tmp_path):
    marker = tmp_path / "marker"
    payload = tmp_path / "payload.py"
    payload.write_text(PAYLOAD.format(marker=str(marker)))
    artifact = _crafted(
        tmp_path, f"{payload}:create", source_file={"path": str(payload), "sha256": "0" * 64}
    )
    with pytest.raises(UntrustedSourceError, match="has changed since"):
        edgeattn.validate(artifact, num_samples=1, trust_provenance=True)
    assert not marker.exists()


def test_standard_library_factory_never_runs(tmp_path):
    artifact = _crafted(tmp_path, "os:abort")
    # In a child process: if os.abort were called, the child would die by SIGABRT.
    script = (
        "import sys, edgeattn\n"
        "from edgeattn.errors import UntrustedSourceError\n"
        "for trust in (False, True):\n"
        "    try:\n"
        f"        edgeattn.validate({str(artifact)!r}, num_samples=1, trust_provenance=trust)\n"
        "    except UntrustedSourceError as exc:\n"
        "        print('refused', trust, exc.message)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("refused False") and "os:abort" in lines[0]
    assert lines[1].startswith("refused True") and "standard library" in lines[1]


def test_module_in_the_working_directory_is_not_trusted(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    (tmp_path / "evil_module_xyz.py").write_text(PAYLOAD.format(marker=str(marker)))
    monkeypatch.chdir(tmp_path)
    artifact = _crafted(tmp_path, "evil_module_xyz:create")
    with pytest.raises(UntrustedSourceError, match="not an installed distribution"):
        edgeattn.validate(artifact, num_samples=1, trust_provenance=True)
    assert not marker.exists()
    assert "evil_module_xyz" not in sys.modules


def test_module_shadowing_an_installed_package_from_the_working_directory_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    (tmp_path / "timm").mkdir()
    (tmp_path / "timm" / "__init__.py").write_text(PAYLOAD.format(marker=str(marker)))
    monkeypatch.chdir(tmp_path)
    artifact = _crafted(tmp_path, "timm.models:create")
    with pytest.raises(UntrustedSourceError, match="would be loaded from"):
        edgeattn.validate(artifact, num_samples=1, trust_provenance=True)
    assert not marker.exists()


def test_installed_package_factory_is_accepted_under_trust_only(tmp_path):
    source = "timm.models:create_model"
    with pytest.raises(UntrustedSourceError):
        resolve_reference({"source": source}, tmp_path / "a.onnx")
    assert resolve_reference({"source": source}, tmp_path / "a.onnx", trust_provenance=True) == source


@pytest.mark.parametrize("source", ["se_resnet50", "timm:seresnet50", "torchvision:regnet_y_400mf"])
def test_library_sources_need_no_opt_in(tmp_path, source):
    assert resolve_reference({"source": source}, tmp_path / "a.onnx") == source


def test_no_recorded_source_asks_for_model(tmp_path):
    with pytest.raises(ParityError, match="records no source"):
        resolve_reference({"source": None}, tmp_path / "a.onnx")
    with pytest.raises(ParityError, match="records no source"):
        resolve_reference(None, tmp_path / "a.onnx")


def test_export_records_the_source_file_hash(exported):
    artifact, payload, _ = exported
    from edgeattn._io import sha256_file
    from edgeattn.artifact import ArtifactInfo

    record = ArtifactInfo.read(artifact).provenance["source_file"]
    # payload.py sits beside m.onnx: moved together, it is found again from there.
    assert record == {"path": os.fspath(payload.resolve()), "sha256": sha256_file(payload), "relative": "payload.py"}


# ------------------------------------------------ sibling modules and bytecode, pinned too
SIBLING_SOURCE = '''
from pathlib import Path

def make():
    from {helper} import block  # research code imports its sibling modules inside the factory
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(block(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)).eval()
'''

HELPER_SOURCE = '''
from pathlib import Path
Path({marker!r}).write_text("helper ran")
from torch import nn

def block():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
'''


@pytest.fixture()
def with_sibling(tmp_path):
    """An artifact exported from ``model.py:make``, which imports a sibling module when it runs."""
    import uuid

    helper_name = f"blocks_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "helper-marker"
    (tmp_path / "model.py").write_text(SIBLING_SOURCE.format(helper=helper_name))
    (tmp_path / f"{helper_name}.py").write_text(HELPER_SOURCE.format(marker=str(marker)))
    artifact = tmp_path / "m.onnx"
    edgeattn.export(f"{tmp_path / 'model.py'}:make", artifact, input_shape=(1, 3, 8, 8), opset=17)
    sys.modules.pop(helper_name, None)  # validate imports it afresh, as a new process would
    marker.unlink()
    return artifact, tmp_path / f"{helper_name}.py", marker


def test_export_records_the_sibling_modules_the_source_imported(with_sibling):
    from edgeattn._io import sha256_file
    from edgeattn.artifact import ArtifactInfo

    artifact, helper_file, _ = with_sibling
    modules = ArtifactInfo.read(artifact).provenance["source_modules"]
    assert modules == {helper_file.name: sha256_file(helper_file)}


def test_trusted_source_with_unchanged_siblings_runs(with_sibling):
    artifact, _, marker = with_sibling
    assert edgeattn.validate(artifact, num_samples=2, trust_provenance=True).passed
    assert marker.exists()


def test_a_sibling_changed_after_export_is_refused_before_it_runs(with_sibling):
    artifact, helper_file, marker = with_sibling
    helper_file.write_text(helper_file.read_text() + "\n# edited after export\n")
    with pytest.raises(UntrustedSourceError, match="has changed since the artifact was exported"):
        edgeattn.validate(artifact, num_samples=1, trust_provenance=True)
    assert not marker.exists()


def test_an_artifact_without_recorded_siblings_runs_none_of_them(with_sibling):
    """Artifacts exported before siblings were recorded: the source file runs, its siblings do not."""
    artifact, _, marker = with_sibling
    from edgeattn.artifact import ArtifactInfo

    info = ArtifactInfo.read(artifact)
    provenance = dict(info.provenance)
    provenance.pop("source_modules")
    proto = onnx.load(artifact)
    for prop in proto.metadata_props:
        if prop.key == "edgeattn.provenance":
            prop.value = json.dumps(provenance)
    onnx.save(proto, artifact)
    sidecar = artifact.with_name(artifact.name + ".json")
    if sidecar.exists():
        data = json.loads(sidecar.read_text())
        data["provenance"] = provenance
        sidecar.write_text(json.dumps(data))
    with pytest.raises(UntrustedSourceError, match="the export did not record it"):
        edgeattn.validate(artifact, num_samples=1, trust_provenance=True)
    assert not marker.exists()
