"""A model of one Conv with random weights and bias, for timing one layer.

   make_conv.py OUT.onnx C H W M K STRIDE PAD [GROUP] [SEED]
"""
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
out, C, H, W, M, k, s, p = sys.argv[1], *map(int, sys.argv[2:9])
g = int(sys.argv[9]) if len(sys.argv) > 9 else 1
rng = np.random.default_rng(int(sys.argv[10]) if len(sys.argv) > 10 else 0)
w = (rng.standard_normal((M, C // g, k, k)) / np.sqrt(C // g * k * k)).astype(np.float32)
b = rng.standard_normal(M).astype(np.float32) * 0.1
node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, group=g)
OH = (H + 2 * p - k) // s + 1; OW = (W + 2 * p - k) // s + 1
graph = helper.make_graph([node], "c", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, H, W])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, M, OH, OW])],
    [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]); m.ir_version = 8
onnx.save(m, out)
