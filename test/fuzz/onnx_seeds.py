#!/usr/bin/env python3
"""Seeds the ONNX fuzzer's corpus from ONNX's node tests (libonnx-testdata).

    onnx_seeds.py CORPUS_DIR [NODE_DIR]

Copies the model of every node test whose name mentions an op the importer
handles. When the test's first data set has more than one input, it also
writes a variant in which inputs 1.. are initializers (the shape of a
Reshape, the pads of a Pad, the scales of a QuantizeLinear, ...), so that
the fuzzer starts from models that import, not only from ones rejected for
a non-constant shape. The variant is the model followed by a second,
serialized ModelProto holding only those initializers: protobuf merges
concatenated messages, appending to the graph's repeated initializer field.
"""
import os
import re
import sys

OPS = re.compile(
    "conv|pool|gemm|matmul|quantize|qlinear|integer|reshape|concat|pad|"
    "softmax|relu|clip|batchnorm|flatten|transpose|squeeze|shape|gather|"
    "cast|constant|identity|dropout|sigmoid|tanh|hardsigmoid|hardswish|"
    "add|sub|mul")


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(tag, payload):
    """A length-delimited protobuf field (tag = field number << 3 | 2)."""
    return bytes([tag]) + varint(len(payload)) + payload


def main():
    corpus = sys.argv[1]
    node = sys.argv[2] if len(sys.argv) > 2 else \
        "/usr/share/libonnx-testdata/data/node"
    models = variants = 0
    for name in sorted(os.listdir(node)):
        model = os.path.join(node, name, "model.onnx")
        if not OPS.search(name) or not os.path.isfile(model):
            continue
        with open(model, "rb") as f:
            data = f.read()
        with open(os.path.join(corpus, "node_%s.onnx" % name), "wb") as f:
            f.write(data)
        models += 1
        inits = b""
        k = 1
        while True:
            pb = os.path.join(node, name, "test_data_set_0", "input_%d.pb" % k)
            if not os.path.isfile(pb):
                break
            with open(pb, "rb") as f:
                inits += field(0x2A, f.read())  # GraphProto.initializer = 5
            k += 1
        if inits:
            with open(os.path.join(corpus, "node_%s.const.onnx" % name),
                      "wb") as f:
                f.write(data + field(0x3A, inits))  # ModelProto.graph = 7
            variants += 1
    print("onnx_seeds: %d node models, %d with constant inputs" %
          (models, variants))


if __name__ == "__main__":
    main()
