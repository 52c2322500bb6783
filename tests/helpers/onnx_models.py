"""Tiny ONNX detectors built with the ``onnx`` package, and video streams with targets drawn at
known places, for the detector and chip tests.

:func:`colour_blob_model` is a real (if simple) detector: it scores every pixel for saturated
blue ("tarp") and saturated red with a 1x1 convolution and a sigmoid, cuts the image into square
cells, and for each cell returns the highest score and the extent of the pixels above 0.5 (min /
max of their coordinates by max-pooling); TopK keeps the best ``k`` cells of both colours.
Labels come from the index TopK returns (``index // cells``): 0 for blue, 1 for red.
Every output follows the declared detector schema: ``boxes`` (N, 4) float32 pixels of the
model's input, ``scores`` (N,) float32, ``labels`` (N,) int64.

Keyword arguments break the schema on purpose, for the load-time refusal tests.

:func:`write_target_stream` writes a real H.264 + ST 0601 KLV transport stream of a coherent
sortie (:func:`vigia.scenario.sortie.sortie_columns`) whose frames show a fixed blue target, a
moving blue target and a red target on textured ground.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vigia.klv.encode import encode_st0601_stream
from vigia.mpegts import write_video_klv_ts
from vigia.scenario.sortie import sortie_columns

BLUE_LABEL = 0
RED_LABEL = 1

#: Large coordinate for "no pixel in this cell" (model pixels).
_FAR = 1.0e6


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name)


def colour_blob_model(
    path: str | Path,
    *,
    height: int = 128,
    width: int = 160,
    cell: int = 16,
    k: int = 8,
    input_dtype: str = "float32",
    input_channels: int = 3,
    output_names: tuple[str, str, str] = ("boxes", "scores", "labels"),
    labels_dtype: str = "int64",
    boxes_rank: int = 2,
    dynamic_input: bool = False,
) -> Path:
    """Write the colour-blob detector to ``path`` and return the path.

    Input ``image`` (1, ``input_channels``, ``height``, ``width``): RGB float32 in 0..1 or uint8
    0..255 (``input_dtype``). ``height`` and ``width`` must be multiples of ``cell``.
    ``dynamic_input`` declares the input's height and width symbolic (the graph still computes
    on ``height`` x ``width`` and fails on other sizes).
    """
    if height % cell or width % cell:
        raise ValueError("height and width must be multiples of cell")
    hc, wc = height // cell, width // cell
    n_cells = hc * wc
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    elem = TensorProto.UINT8 if input_dtype == "uint8" else TensorProto.FLOAT
    dims: list[int | str] = [1, input_channels, height, width]
    if dynamic_input:
        dims = [1, input_channels, "height", "width"]
    image = helper.make_tensor_value_info("image", elem, dims)
    x = "image"
    if input_dtype == "uint8":
        inits.append(_const("inv255", np.array(1.0 / 255.0, np.float32)))
        nodes += [
            helper.make_node("Cast", [x], ["image_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["image_f", "inv255"], ["image01"]),
        ]
        x = "image01"
    # 1x1 convolution: blue = 10 (b - (r + g) / 2) - 5, red = 10 (r - (g + b) / 2) - 5
    w = np.zeros((2, input_channels, 1, 1), np.float32)
    if input_channels == 3:
        w[0, :, 0, 0] = [-5.0, -5.0, 10.0]
        w[1, :, 0, 0] = [10.0, -5.0, -5.0]
    inits += [
        _const("colour_w", w),
        _const("colour_b", np.array([-5.0, -5.0], np.float32)),
        _const("half", np.array(0.5, np.float32)),
        _const("one", np.array(1.0, np.float32)),
        _const("far", np.array(_FAR, np.float32)),
        _const("xs", np.broadcast_to(np.arange(width, dtype=np.float32), (1, 1, height, width))),
        _const(
            "ys",
            np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (1, 1, height, width)),
        ),
        _const("flat", np.array([-1], np.int64)),
        _const("k", np.array([k], np.int64)),
        _const("n_cells", np.array(n_cells, np.int64)),
    ]
    pool: dict[str, Any] = {"kernel_shape": [cell, cell], "strides": [cell, cell]}
    nodes += [
        helper.make_node("Conv", [x, "colour_w", "colour_b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
        helper.make_node("Greater", ["prob", "half"], ["on_b"]),
        helper.make_node("Cast", ["on_b"], ["on"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "on"], ["off"]),
        helper.make_node("Mul", ["off", "far"], ["off_far"]),
        helper.make_node("MaxPool", ["prob"], ["cell_score"], **pool),
        helper.make_node("Reshape", ["cell_score", "flat"], ["all_scores"]),
    ]
    # per-cell extents of the pixels that are on: x0 = min x, x1 = max x + 1 (likewise y)
    for axis, coords in (("x", "xs"), ("y", "ys")):
        nodes += [
            helper.make_node("Mul", ["on", coords], [f"{axis}_on"]),
            helper.make_node("Add", [f"{axis}_on", "off_far"], [f"{axis}_lo_in"]),
            helper.make_node("Neg", [f"{axis}_lo_in"], [f"{axis}_lo_neg"]),
            helper.make_node("MaxPool", [f"{axis}_lo_neg"], [f"{axis}_lo_pool"], **pool),
            helper.make_node("Neg", [f"{axis}_lo_pool"], [f"{axis}0_cell"]),
            helper.make_node("Add", [coords, "one"], [f"{axis}_next"]),
            helper.make_node("Mul", ["on", f"{axis}_next"], [f"{axis}_hi_in"]),
            helper.make_node("MaxPool", [f"{axis}_hi_in"], [f"{axis}1_cell"], **pool),
        ]
    cols = []
    for name in ("x0", "y0", "x1", "y1"):
        nodes.append(helper.make_node("Reshape", [f"{name}_cell", "flat"], [f"{name}_flat"]))
        nodes.append(helper.make_node("Unsqueeze", [f"{name}_flat", "one_axis"], [f"{name}_col"]))
        cols.append(f"{name}_col")
    inits.append(_const("one_axis", np.array([1], np.int64)))
    nodes += [
        helper.make_node("Concat", cols, ["all_boxes"], axis=1),
        helper.make_node("TopK", ["all_scores", "k"], ["top_scores", "top_idx"], axis=0),
        helper.make_node("Gather", ["all_boxes", "top_idx"], ["top_boxes"], axis=0),
        helper.make_node("Div", ["top_idx", "n_cells"], ["top_labels"]),
    ]
    boxes_out, scores_out, labels_out = output_names
    boxes_src = "top_boxes"
    if boxes_rank == 3:
        inits.append(_const("zero_axis", np.array([0], np.int64)))
        nodes.append(helper.make_node("Unsqueeze", ["top_boxes", "zero_axis"], ["top_boxes3"]))
        boxes_src = "top_boxes3"
    nodes.append(helper.make_node("Identity", [boxes_src], [boxes_out]))
    nodes.append(helper.make_node("Identity", ["top_scores"], [scores_out]))
    ltype = TensorProto.INT64
    if labels_dtype == "float32":
        ltype = TensorProto.FLOAT
        nodes.append(helper.make_node("Cast", ["top_labels"], [labels_out], to=ltype))
    else:
        nodes.append(helper.make_node("Identity", ["top_labels"], [labels_out]))
    boxes_shape: list[int | str] = [k, 4] if boxes_rank == 2 else [1, k, 4]
    outputs = [
        helper.make_tensor_value_info(boxes_out, TensorProto.FLOAT, boxes_shape),
        helper.make_tensor_value_info(scores_out, TensorProto.FLOAT, [k]),
        helper.make_tensor_value_info(labels_out, ltype, [k]),
    ]
    graph = helper.make_graph(nodes, "colour_blobs", [image], outputs, initializer=inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="vigia-tests"
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    out = Path(path)
    onnx.save(model, out)
    return out


# --- streams with targets -----------------------------------------------------------------------

FRAME_W, FRAME_H = 320, 256
FPS = 30
BLUE = (10, 40, 220)
RED = (220, 30, 20)
#: Ground texture: a dull olive (a hillside), with noise.
GROUND = (96, 104, 64)


def fixed_target(i: int) -> tuple[int, int, int, int]:
    """Box (x0, y0, x1, y1) of the fixed blue target in frame ``i`` (frame pixels)."""
    return (70, 100, 90, 116)


def moving_target(i: int) -> tuple[int, int, int, int]:
    """Box of the moving blue target in frame ``i``: it stays inside one 32-px detector cell."""
    x0 = 196 + 2 * (i % 4)
    y0 = 166 - 2 * (i % 3)
    return (x0, y0, x0 + 16, y0 + 14)


def red_target(i: int) -> tuple[int, int, int, int]:
    """Box of the red target (model label 1)."""
    return (200, 40, 222, 56)


def target_frames(n: int, *, seed: int = 1, red: bool = True) -> list[np.ndarray]:
    """``n`` RGB frames (FRAME_H, FRAME_W, 3) with the targets drawn on textured ground."""
    rng = np.random.default_rng(seed)
    ground = np.clip(np.asarray(GROUND) + rng.normal(0, 8, (FRAME_H, FRAME_W, 3)), 0, 255)
    frames = []
    for i in range(n):
        f = ground.astype(np.uint8)
        boxes = [(fixed_target(i), BLUE), (moving_target(i), BLUE)]
        if red:
            boxes.append((red_target(i), RED))
        for (x0, y0, x1, y1), colour in boxes:
            f[y0:y1, x0:x1] = colour
        frames.append(f)
    return frames


@dataclass(frozen=True)
class TargetStream:
    """A stream written by :func:`write_target_stream`."""

    path: Path
    frames: int
    klv_frames: Sequence[int]
    """Frames that carry a KLV packet (the others have no telemetry)."""
    pts_90k: np.ndarray
    """PTS of every frame (90 kHz ticks)."""


def write_target_stream(
    path: str | Path,
    n: int = 36,
    *,
    klv_frames: Sequence[int] | None = None,
    seed: int = 1,
    red: bool = True,
) -> TargetStream:
    """Write ``n`` target frames at 30 fps, H.264, with one ST 0601 packet per frame in
    ``klv_frames`` (default: every frame), telemetry of a coherent sortie at 30 Hz."""
    frames = target_frames(n, seed=seed, red=red)
    cols = sortie_columns(n, rate_hz=FPS, terrain_height_m=60.0)
    data, off = encode_st0601_stream(cols)
    keep = set(range(n) if klv_frames is None else klv_frames)
    klv = [data[off[i] : off[i + 1]] if i in keep else b"" for i in range(n)]
    out = Path(path)
    write_video_klv_ts(out, frames, FPS, klv, bit_rate=2_000_000)
    pts = 90_000 + np.arange(n, dtype=np.int64) * (90_000 // FPS)
    return TargetStream(out, n, sorted(keep), pts)
