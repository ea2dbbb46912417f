"""GPU-facing parts of the ONNX Runtime adapters, tested where there is no GPU: the execution-
provider placement parser on two real H100 profiles and one recorded here on the CPU EP, the
I/O-bound session CUDA graphs use (run on the CPU EP), the cuda_graphs device option reaching
the runner, the TensorRT message, and the local target keeping the user's PYTHONPATH.

What needs a GPU (the CUDA EP itself, graph capture, the timings) is in benchmarks/gpu.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgekit.devices import load_device
from edgekit.device.runtimes import RUNTIMES
from edgekit.device.runtimes._ort_placement import CPU, parse_profile, record_placement
from edgekit.device.runtimes.onnxruntime import BoundSession, ONNXRuntimeCPU, session_options

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

PROFILES = Path(__file__).parent / "fixtures" / "ort-profiles"
CUDA = "CUDAExecutionProvider"
DYNAMIC_ON_CPU = ["DynamicQuantizeLinear", "MatMulInteger", "QAttention",
                  "QEmbedLayerNormalization"]


def test_h100_fp32_profile_runs_all_compute_on_cuda() -> None:
    placement = parse_profile(PROFILES / "ort-profile-cuda-tinybert-tinybert-fp32.json")
    assert placement.fallback(CUDA) == []
    # ONNX Runtime keeps the int64 shape arithmetic on the CPU on purpose: not a fallback.
    assert placement.cpu_shape_ops == ["Gather", "Unsqueeze"]
    cuda_ops = placement.by_provider[CUDA]
    assert {"MatMul", "LayerNormalization", "Softmax", "BiasGelu"} <= set(cuda_ops)
    assert "warning" not in placement.to_json(CUDA)


def test_h100_dynamic_int8_profile_flags_the_four_cpu_op_types() -> None:
    placement = parse_profile(PROFILES / "ort-profile-cuda-tinybert-tinybert-dynamic.json")
    assert placement.fallback(CUDA) == DYNAMIC_ON_CPU
    assert set(placement.by_provider[CPU]) == set(DYNAMIC_ON_CPU)
    assert placement.by_provider[CUDA]["MemcpyToHost"] > 0  # the copies the fallback costs
    record = placement.to_json(CUDA)
    assert record["cpu_fallback_ops"] == DYNAMIC_ON_CPU
    assert all(op in record["warning"] for op in DYNAMIC_ON_CPU)
    assert "CUDA" in record["warning"] and "CPU" in record["warning"]


def _model_with_shape_ops(path: Path) -> Path:
    """x[N,8] -> MatMul -> Relu -> Reshape to [N, 2, 4] (the target shape computed from Shape(x)
    with Gather/Unsqueeze/Concat, as exported models do) -> Softmax."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "w")
    consts = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
              (("zero", 0), ("axes", [0]), ("tail", [2, 4]))]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]),
             helper.make_node("Relu", ["mm"], ["act"]),
             helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "tail"], ["target"], axis=0),
             helper.make_node("Reshape", ["act", "target"], ["r"]),
             helper.make_node("Softmax", ["r"], ["y"], axis=-1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         ["N", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 4])],
                              [w, *consts])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_profile_recorded_on_the_cpu_ep(tmp_path: Path) -> None:
    model = _model_with_shape_ops(tmp_path / "m.onnx")
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    opts = session_options(1)
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep shape ops
    placement = record_placement(model, [CPU], {"x": x}, opts, runs=2)
    assert list(placement.by_provider) == [CPU]
    ops = placement.by_provider[CPU]
    assert ops["MatMul"] == 2 and ops["Softmax"] == 2
    assert {"Gather", "Unsqueeze", "Concat", "Shape"} <= set(placement.cpu_shape_ops)
    assert placement.cpu_compute_ops == ["MatMul", "Relu", "Reshape", "Softmax"]
    # A CPU session meant to run on the CPU: nothing fell back.
    assert placement.fallback(CPU) == [] and "warning" not in placement.to_json(CPU)
    # The same nodes on the CPU in a session meant for CUDA would be a fallback.
    assert placement.fallback(CUDA) == ["MatMul", "Relu", "Reshape", "Softmax"]
    assert not list(tmp_path.glob("*.json")), "profile files left behind"


def test_session_placement_and_cpu_details(tmp_path: Path) -> None:
    model = _model_with_shape_ops(tmp_path / "m.onnx")
    session = ONNXRuntimeCPU().load(model, 1)
    x = {"x": np.ones((1, 8), np.float32)}
    assert session.execution_details(x) == {}  # no second session on the CPU EP
    record = session.placement(x)
    assert record["provider"] == CPU and record["cpu_fallback_ops"] == []
    assert "MatMul" in record["by_provider"][CPU]


def test_bound_session_matches_plain_runs_across_shapes(tmp_path: Path) -> None:
    """The I/O-binding path CUDA graphs use, on the CPU EP: one binding per input shape, new
    inputs copied into the bound buffers, outputs equal to plain runs and not aliased."""
    model = _model_with_shape_ops(tmp_path / "m.onnx")
    plain = ONNXRuntimeCPU().load(model, 1)
    raw = ort.InferenceSession(str(model), session_options(1), providers=[CPU])
    bound = BoundSession(raw, model, [CPU], device="cpu", graphs=False)
    rng = np.random.default_rng(2)
    outs = []
    for batch in (1, 4, 1, 4, 1):
        x = {"x": rng.standard_normal((batch, 8)).astype(np.float32)}
        got = bound.run(x)
        np.testing.assert_allclose(got, plain.run(x), rtol=1e-6, atol=1e-6)
        outs.append(got)
    assert len(bound._slots) == 2
    assert not np.allclose(outs[0], outs[2])  # an earlier result is not overwritten later


def test_bound_output_shape_resolves_named_and_unnamed_dims(tmp_path: Path) -> None:
    model = _model_with_shape_ops(tmp_path / "m.onnx")
    raw = ort.InferenceSession(str(model), providers=[CPU])
    bound = BoundSession(raw, model, [CPU], device="cpu", graphs=False)
    assert bound.output_shape({"x": np.zeros((5, 8), np.float32)}) == [5, 2, 4]
    bound._out_shape = ["unk__140", 2, 4]  # tf2onnx names the output's batch dim apart
    assert bound.output_shape({"x": np.zeros((3, 8), np.float32)}) == [3, 2, 4]
    bound._out_shape = ["N", "unk__7"]
    with pytest.raises(ValueError, match="cuda_graphs off"):
        bound.output_shape({"x": np.zeros((3, 8), np.float32)})


def test_cuda_graphs_option_reaches_the_runner_command(tmp_path: Path) -> None:
    from edgekit.device.runner import parse
    from edgekit.device.runtimes.onnxruntime_cuda import ONNXRuntimeCUDA, flag
    from edgekit.targets import RunRequest, stage

    gpu = load_device("gpu-nvidia")
    assert gpu.cuda_graphs is True and load_device("cpu").cuda_graphs is False
    cuda = RUNTIMES.get("onnxruntime-cuda")
    assert gpu.runtime_options(cuda.options) == (("cuda_graphs", "1"),)
    assert gpu.runtime_options(RUNTIMES.get("onnxruntime").options) == ()  # CPU EP: no graphs
    assert load_device("cpu").runtime_options(cuda.options) == ()
    assert ONNXRuntimeCUDA().providers(cuda_graphs=True) == [
        (CUDA, {"enable_cuda_graph": "1"}), CPU]
    assert ONNXRuntimeCUDA().providers() == [CUDA, CPU]
    assert flag("1") and flag(True) and flag("true") and not flag("") and not flag("0")
    args = parse(["--artifact", "a.onnx", "--runtime", "onnxruntime-cuda", "--inputs", "i",
                  "--timings", "t.json", "--option", "cuda_graphs=1"])
    assert args.option == ["cuda_graphs=1"]
    model = _model_with_shape_ops(tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", x__x=np.ones((2, 8), np.float32))
    (tmp_path / "staged").mkdir()
    argv = stage(RunRequest(files=(model,), runtime="onnxruntime-cuda", inputs=tmp_path / "in.npz",
                            options=gpu.runtime_options(cuda.options)), tmp_path / "staged")
    assert argv[-2:] == ["--option", "cuda_graphs=1"]
    assert parse(argv[2:]).option == ["cuda_graphs=1"]


def test_runner_records_no_placement_on_the_cpu_ep(tmp_path: Path) -> None:
    """The runner end to end on the CPU EP: outputs written, and no placement block (the
    profiled second session is only for accelerator sessions)."""
    import json

    from edgekit.device.runner import main

    model = _model_with_shape_ops(tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", x__x=np.ones((3, 8), np.float32))
    rc = main(["--artifact", str(model), "--runtime", "onnxruntime", "--inputs",
               str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "o.npz"),
               "--timings", str(tmp_path / "t.json")])
    info = json.loads((tmp_path / "t.json").read_text())
    assert rc == 0, info
    assert "placement" not in info and "cuda_graphs" not in info


def test_placement_warning_reaches_validate_output() -> None:
    from edgekit.report.targets import summary_lines, section
    from edgekit.validation.placement import execution_record

    placement = parse_profile(PROFILES / "ort-profile-cuda-tinybert-tinybert-dynamic.json")
    record = execution_record({"placement": placement.to_json(CUDA), "cuda_graphs": "off"})
    assert record["cuda_graphs"] == "off" and len(record["warnings"]) == 1
    entry = {"file": "artifacts/m.onnx", "runtime": "onnxruntime-cuda",
             "metric": {"name": "accuracy", "value": 0.9}, "agreement": 1.0,
             "max_abs_diff": 0.0, "max_abs_diff_vs_host": 0.0, "host_atol": 1e-3,
             "checks": {"metric_drop": True}, "passed": True, **record}
    result = {"target": {"name": "gpu-nvidia", "connection": "local", "description": "GPU"},
              "emulated": False, "artifacts": [entry], "passed": True}
    lines = summary_lines(result)
    assert any("fell back" in line and "MatMulInteger" in line for line in lines)
    assert "MatMulInteger" in section({"on_target": {"gpu-nvidia": result}, "artifacts": []})
    assert execution_record({"runtime": "x"}) == {}


def test_tensorrt_not_loaded_names_the_libraries() -> None:
    from edgekit.device.runtimes.onnxruntime_cuda import ONNXRuntimeTensorRT, tensorrt_missing

    if tensorrt_missing() is None:
        pytest.skip("TensorRT libraries are installed here")
    message = ONNXRuntimeTensorRT().not_loaded([CUDA, CPU])
    assert "TensorrtExecutionProvider did not load" in message
    assert "libnvinfer" in message and "pip install tensorrt-cu13" in message


def test_local_target_keeps_the_users_pythonpath(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime installed through PYTHONPATH (Jetson, conda-style setups) stays importable
    by the runner; the staged folder still comes first, so its edgekit copy is the one used."""
    from edgekit.targets.local import LocalTarget, runner_pythonpath

    user = tmp_path / "user-site"
    user.mkdir()
    (user / "user_runtime_probe.py").write_text("FOUND = 'yes'\n")
    staged = tmp_path / "staged"
    staged.mkdir()
    monkeypatch.setenv("PYTHONPATH", f"{user}{os.pathsep}")
    code = ("import os, sys, user_runtime_probe; "
            "print(os.environ['PYTHONPATH']); print(user_runtime_probe.FOUND)")
    log = LocalTarget().execute(load_device("cpu"), staged, ["-c", code])
    lines = log.strip().splitlines()
    assert lines[-1] == "yes", log
    assert lines[-2].split(os.pathsep) == [str(staged), str(user)]
    assert runner_pythonpath(staged, None) == str(staged)
