"""The artifact contract (edgeattn/artifact.py): one reader for ONNX metadata, the .onnx.json
sidecar and engine sidecars, its precedence order, and artifacts written by earlier versions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeattn.artifact import ArtifactInfo, InputSpec, Preprocessing, read_engine_sidecar
from edgeattn.errors import InputError


def _onnx(path: Path, dims: list, props: dict[str, str] | None = None) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["logits"])],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, dims)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    if props:
        helper.set_model_props(model, props)
    onnx.save(model, path)
    return path


PROVENANCE = {
    "source": "se_resnet_tiny",
    "input": {"names": ["input"], "shape": [1, 3, 64, 64], "dynamic_batch": True, "max_batch": 8, "dtype": "float32"},
    # Written by earlier versions: the model's default size next to the exported 64x64.
    "preprocessing": {"input_size": [3, 224, 224], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
                      "interpolation": "bicubic", "crop_pct": 0.9, "channel_order": "RGB", "source": "edgeattn"},
}


def test_graph_dims_win_over_a_stale_recorded_preprocessing_size(tmp_path):
    path = _onnx(tmp_path / "m.onnx", ["batch", 3, 64, 64], {"edgeattn.provenance": json.dumps(PROVENANCE)})
    info = ArtifactInfo.read(path)
    assert info.input == InputSpec("input", 3, 64, 64, dynamic_batch=True, max_batch=8, batch=1)
    assert info.preprocessing.input_size == (3, 64, 64)
    assert info.preprocessing.interpolation == "bicubic" and info.preprocessing.mean == (0.5, 0.5, 0.5)
    assert Preprocessing.from_onnx(path).input_size == (3, 64, 64)
    assert Preprocessing.from_onnx(path, input_size=(3, 32, 32)).input_size == (3, 32, 32)


def test_recorded_shape_then_preprocessing_size_when_the_graph_is_symbolic(tmp_path):
    path = _onnx(tmp_path / "m.onnx", ["batch", 3, "h", "w"], {"edgeattn.provenance": json.dumps(PROVENANCE)})
    assert ArtifactInfo.read(path).input_size == (3, 64, 64)
    no_shape = {**PROVENANCE, "input": {"names": ["input"], "dynamic_batch": True, "max_batch": 8}}
    path = _onnx(tmp_path / "n.onnx", ["batch", 3, "h", "w"], {"edgeattn.provenance": json.dumps(no_shape)})
    assert ArtifactInfo.read(path).input_size == (3, 224, 224)
    assert ArtifactInfo.read(_onnx(tmp_path / "plain.onnx", ["batch", 3, "h", "w"])).input is None


def test_fixed_batch_and_precision_from_metadata(tmp_path):
    path = _onnx(tmp_path / "m.onnx", [4, 1, 8, 8], {"edgeattn.precision": "INT8 "})
    info = ArtifactInfo.read(path)
    assert (info.dynamic_batch, info.max_batch, info.input.fixed_batch) == (False, 4, 4)
    assert info.precision == "int8" and info.provenance is None and info.preprocessing is None
    assert ArtifactInfo.read(_onnx(tmp_path / "x.onnx", [1, 1, 8, 8], {"edgeattn.precision": "fp64"})).precision is None


def test_the_sidecar_is_read_when_the_metadata_was_stripped(tmp_path):
    path = _onnx(tmp_path / "m.onnx", ["batch", 3, 64, 64])
    (tmp_path / "m.onnx.json").write_text(json.dumps({"provenance": PROVENANCE, "blocks": [{"name": "layer1.se"}],
                                                      "precision": "fp16"}))
    info = ArtifactInfo.read(path)
    assert info.provenance["source"] == "se_resnet_tiny" and info.blocks == [{"name": "layer1.se"}]
    assert info.precision == "fp16" and info.max_batch == 8


def test_write_then_read_round_trips_through_metadata_and_sidecar(tmp_path):
    import onnx

    path = _onnx(tmp_path / "m.onnx", ["batch", 3, 64, 64], {"other.tool": "kept"})
    proto = onnx.load(str(path))
    record = ArtifactInfo(provenance=PROVENANCE, blocks=[{"name": "b"}], probes=[{"module": "layer1", "tensor": "t"}],
                          precision="fp16", quantization={"target": "ort-cpu"})
    record.write_metadata(proto)
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["other.tool"] == "kept" and props["edgeattn.precision"] == "fp16"
    assert set(props) == {"other.tool", "edgeattn.provenance", "edgeattn.blocks", "edgeattn.probes",
                          "edgeattn.precision", "edgeattn.quantization"}
    back = ArtifactInfo.from_proto(proto)
    assert back.sidecar() == record.sidecar()
    assert ArtifactInfo.from_record(json.loads(json.dumps(record.sidecar()))).sidecar() == record.sidecar()


def _engine(tmp_path: Path, sidecar: dict) -> Path:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    (tmp_path / "m.engine.json").write_text(json.dumps(sidecar))
    return engine


ENGINE_IO = [{"name": "input", "mode": "input", "dtype": "float32", "shape": [-1, 3, 64, 64]},
             {"name": "logits", "mode": "output", "dtype": "float32", "shape": [4, 10]}]
PROFILES = [{"name": "input", "min": [1, 3, 64, 64], "opt": [1, 3, 64, 64], "max": [4, 3, 64, 64]}]


def test_engine_sidecar_written_by_earlier_versions_still_reads(tmp_path):
    # Format /1 recorded the precision as a dict; now a string plus precision_plan.
    engine = _engine(tmp_path, {"format": "edgeattn.tensorrt-engine/1", "io": ENGINE_IO, "profiles": PROFILES,
                                "precision": {"precision": "fp32", "onnx_precision": "fp32", "path": "strongly_typed",
                                              "tf32": True}, "provenance": PROVENANCE})
    side = read_engine_sidecar(engine)
    assert side["precision"] == "fp32" and side["precision_plan"] == {"onnx_precision": "fp32", "path": "strongly_typed", "tf32": True}
    info = ArtifactInfo.read(engine)
    assert info.kind == "engine" and info.precision == "fp32" and info.tf32
    # The engine's profile, not the export, bounds its batch; outputs are batched like inputs.
    assert info.input == InputSpec("input", 3, 64, 64, dynamic_batch=True, max_batch=4, batch=1)
    assert info.outputs[0].shape == (-1, 10) and info.outputs[0].dtype == np.dtype("float32")
    assert info.preprocessing.input_size == (3, 64, 64)


def test_current_engine_sidecar_and_one_without_a_sidecar(tmp_path):
    engine = _engine(tmp_path, {"format": "edgeattn.tensorrt-engine/2", "io": ENGINE_IO, "profiles": PROFILES,
                                "precision": "fp16", "precision_plan": {"tf32": False}})
    info = ArtifactInfo.read(engine)
    assert (info.precision, info.tf32, info.max_batch) == ("fp16", False, 4)
    (tmp_path / "m.engine.json").unlink()
    bare = ArtifactInfo.read(engine)
    assert bare.kind == "engine" and bare.input is None and bare.precision is None


def test_a_sidecar_that_is_not_ours_is_one_line_error(tmp_path):
    engine = _engine(tmp_path, {"format": "something-else"})
    with pytest.raises(InputError, match="not an edgeattn engine sidecar"):
        ArtifactInfo.read(engine)


def test_a_wrongly_typed_recipe_is_an_input_error_when_asked_for(tmp_path):
    bad = {**PROVENANCE, "preprocessing": {"input_size": [3, 64, 64], "mean": "abc"}}
    path = _onnx(tmp_path / "m.onnx", ["batch", 3, 64, 64], {"edgeattn.provenance": json.dumps(bad)})
    info = ArtifactInfo.read(path)  # reading the rest still works
    assert info.input_size == (3, 64, 64)
    with pytest.raises(InputError, match="preprocessing"):
        info.preprocessing  # noqa: B018


def test_recorded_file_prefers_the_recorded_content_and_survives_crafted_records(tmp_path):
    from edgeattn._io import sha256_file
    from edgeattn.artifact import file_record, recorded_file

    (tmp_path / "old").mkdir()
    weights = tmp_path / "old" / "w.pth"
    weights.write_bytes(b"weights")
    record = file_record(weights, tmp_path / "old" / "deploy" / "m.onnx")
    assert record == {"path": str(weights), "sha256": sha256_file(weights), "relative": "../w.pth"}
    (tmp_path / "new" / "deploy").mkdir(parents=True)
    (tmp_path / "new" / "w.pth").write_bytes(b"weights")
    moved_artifact = tmp_path / "new" / "deploy" / "m.onnx"
    weights.write_bytes(b"changed")  # the old place now holds other bytes: the moved copy wins
    assert recorded_file(record, moved_artifact) == (tmp_path / "new" / "w.pth", True)
    (tmp_path / "new" / "w.pth").unlink()
    assert recorded_file(record, moved_artifact) == (weights, False)  # only a changed file is left
    for crafted in (None, {}, {"path": "a\x00b", "relative": "x" * 5000}, {"path": 3, "relative": ["x"]}):
        assert recorded_file(crafted, moved_artifact) == (None, False)
