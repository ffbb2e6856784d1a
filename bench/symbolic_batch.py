#!/usr/bin/env python3
"""Copies a model with its inputs' and outputs' leading dimension of 1 made
symbolic ("N"), so that it runs at any batch; the intermediate shapes it
declares (value_info) are dropped.  Needs the onnx package (Debian's
python3-onnx).

Usage: symbolic_batch.py IN.onnx OUT.onnx
"""
import sys

import onnx


def main():
    m = onnx.load(sys.argv[1])
    for v in list(m.graph.input) + list(m.graph.output):
        d = v.type.tensor_type.shape.dim
        if len(d) and d[0].HasField("dim_value") and d[0].dim_value == 1:
            d[0].dim_param = "N"
    del m.graph.value_info[:]
    onnx.save(m, sys.argv[2])


if __name__ == "__main__":
    main()
