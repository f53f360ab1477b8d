"""ONNX checks before a build: good models pass with their shapes resolved, bad ones fail naming the fix."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper

from edgepilot.engines.model_check import ModelCheckError, check_onnx_model
from edgepilot.engines.shape_profile import InputShape, ShapeProfileError, format_shape, parse_shape_spec, parse_shape_specs

from .onnx_models import EXAMPLE_POLICY, cnn, mlp


def test_example_policy_passes() -> None:
    c = check_onnx_model(EXAMPLE_POLICY)
    assert c.opset == 17
    assert [(t.name, t.dims) for t in c.inputs] == [("obs", (1, 5))]
    assert c.shapes == {"obs": InputShape.fixed("obs", (1, 5))}
    assert c.output_shapes == {"action": (1, 2)}
    assert c.warnings == ()


def test_cnn_with_image_input(tmp_path: Path) -> None:
    c = check_onnx_model(cnn(tmp_path / "cnn.onnx"))
    assert c.shapes["image"].opt == (1, 3, 48, 64)
    assert c.output_shapes == {"action": (1, 2)}


def test_dynamic_dims_need_a_shape(tmp_path: Path) -> None:
    p = cnn(tmp_path / "cnn.onnx", batch="N")
    with pytest.raises(ModelCheckError) as e:
        check_onnx_model(p)
    msg = str(e.value)
    assert "input 'image'" in msg and "dim 0 ('N')" in msg and "--shape image:1x3x48x64" in msg
    c = check_onnx_model(p, parse_shape_specs(["image:1x3x48x64,2x3x48x64,4x3x48x64"]))
    assert c.shapes["image"].max == (4, 3, 48, 64)
    assert c.output_shapes == {"action": (2, 2)}  # inferred at the profile's opt shape


def test_shape_must_match_fixed_dims(tmp_path: Path) -> None:
    p = mlp(tmp_path / "m.onnx", batch="N")
    with pytest.raises(ModelCheckError, match="dim 1 is fixed to 5"):
        check_onnx_model(p, parse_shape_specs(["obs:1x6"]))
    with pytest.raises(ModelCheckError, match="rank 3"):
        check_onnx_model(p, parse_shape_specs(["obs:1x5x1"]))
    with pytest.raises(ModelCheckError, match=r"does not have as inputs; its inputs are \['obs'\]"):
        check_onnx_model(p, parse_shape_specs(["image:1x3"]))


def test_shape_inference_fails_at_an_impossible_shape(tmp_path: Path) -> None:
    # The declared [1, N] admits any N, but the MatMul with a 10x2 weight only N = 10.
    p = mlp(tmp_path / "m.onnx", n_in=10, batch=1)
    m = onnx.load(str(p))
    m.graph.input[0].type.tensor_type.shape.dim[1].Clear()
    m.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "N"
    onnx.save(m, str(p))
    assert check_onnx_model(p, parse_shape_specs(["obs:1x10"])).output_shapes == {"action": (1, 2)}
    with pytest.raises(ModelCheckError, match="shape inference fails at input shapes obs:1x8"):
        check_onnx_model(p, parse_shape_specs(["obs:1x8"]))


def test_opset_range(tmp_path: Path) -> None:
    with pytest.raises(ModelCheckError, match="opset 8 is older than 9"):
        check_onnx_model(mlp(tmp_path / "old.onnx", opset=8))
    newest = onnx.defs.onnx_opset_version()
    if newest > 20:
        c = check_onnx_model(mlp(tmp_path / "new.onnx", opset=21), for_tensorrt=True)
        assert any("newer than TensorRT 10.0 parses" in w for w in c.warnings)
        assert check_onnx_model(tmp_path / "new.onnx").warnings == ()  # only a TensorRT concern


def test_duplicate_and_unnamed_io(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["x_out"])], "dup",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [1, 2]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])])
    p = tmp_path / "dup.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(p))
    with pytest.raises(ModelCheckError, match=r"\['x'\] are used twice|ONNX checker rejects"):
        check_onnx_model(p)


def test_not_an_onnx_file(tmp_path: Path) -> None:
    p = tmp_path / "policy.onnx"
    p.write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(ModelCheckError, match="not a readable ONNX model"):
        check_onnx_model(p)
    with pytest.raises(ModelCheckError, match="model file not found"):
        check_onnx_model(tmp_path / "missing.onnx")


# ----------------------------------------------------------------------------- --shape parsing

dims = st.lists(st.integers(1, 64), min_size=1, max_size=5).map(tuple)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_./:]{0,20}", fullmatch=True)


@given(names, dims)
def test_fixed_shape_round_trips(name: str, d: tuple[int, ...]) -> None:
    s = parse_shape_spec(f"{name}:{'x'.join(map(str, d))}")
    assert s == InputShape.fixed(name, d) and s.is_fixed
    assert parse_shape_spec(format_shape(s)) == s


@given(names, dims, st.lists(st.integers(0, 3), min_size=5, max_size=5), st.lists(st.integers(0, 3), min_size=5, max_size=5))
def test_profile_round_trips(name: str, lo: tuple[int, ...], up1: list[int], up2: list[int]) -> None:
    opt = tuple(a + b for a, b in zip(lo, up1))
    hi = tuple(a + b for a, b in zip(opt, up2))
    s = parse_shape_spec(f"{name}:{'x'.join(map(str, lo))},{'x'.join(map(str, opt))},{'x'.join(map(str, hi))}")
    assert (s.min, s.opt, s.max) == (lo, opt, hi)
    assert parse_shape_spec(format_shape(s)) == s


@pytest.mark.parametrize("spec, match", [
    ("obs", "expected NAME:DIMS"),
    ("obs:1x", "is not a shape"),
    ("obs:1x0", "1 <= min"),
    ("obs:4x5,2x5,8x5", "min <= opt <= max"),
    ("obs:1x5,2x5", "one shape or three"),
    ("obs:1x5,1x5x1,1x5", "same rank"),
])
def test_bad_shape_specs(spec: str, match: str) -> None:
    with pytest.raises(ShapeProfileError, match=match):
        parse_shape_spec(spec)


def test_shape_named_twice() -> None:
    with pytest.raises(ShapeProfileError, match="twice"):
        parse_shape_specs(["obs:1x5", "obs:2x5"])
