#!/usr/bin/python3
"""Trains a small CNN on scikit-learn's bundled 8x8 digits (offline) with
PyTorch and writes:

  digits.dy            the float model as a dyad graph (NHWC, weights inline as hex)
  samples.npy, labels.npy, expected.npy, sample<i>.npy, expected<i>.npy
                       8 held-out samples (NHWC) and torch's outputs for them
  digits.onnx          the float model as ONNX (opset 13, constant folding, NCHW
                       input `image` [1,1,8,8], output `probs` [1,10])
  digits_qdq.onnx      a copy quantized by torch's own post-training static
                       quantization (eager mode, fused conv-bn-relu, calibrated on
                       the training split; u8 activations per tensor, i8 weights
                       per output channel), exported by torch as QDQ
                       (QuantizeLinear/DequantizeLinear around float ops)
  heldout_x.npy        the whole held-out split, N x 8 x 8 x 1 float32 (NHWC; with
                       one channel its bytes are also the N x 1 x 8 x 8 NCHW batch)
  heldout_y.npy        its labels (int64)
  heldout_torch.npy    torch's float-model outputs (N x 10 float32)
  heldout_torch_qdq.npy  torch's quantized-model outputs (N x 10 float32)

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-sklearn,
python3-onnx). Training is seeded and deterministic. The outputs are committed:
nothing else needs torch."""
import copy
import os
import warnings

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
np.random.seed(0)

digits = load_digits()
x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]  # N,1,8,8
y = digits.target.astype(np.int64)
perm = np.random.permutation(len(x))
x, y = x[perm], y[perm]
ntest = 360
xtr, ytr, xte, yte = x[ntest:], y[ntest:], x[:ntest], y[:ntest]

model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
    nn.MaxPool2d(2),                                   # 8 x 4 x 4
    nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(),             # 16
    nn.Linear(16, 10), nn.Softmax(dim=1))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
lossf = nn.NLLLoss()
xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
for epoch in range(40):
    model.train()
    for i in range(0, len(xt), 64):
        opt.zero_grad()
        out = model(xt[i:i + 64])
        loss = lossf(torch.log(out + 1e-9), yt[i:i + 64])
        loss.backward()
        opt.step()
model.eval()
with torch.no_grad():
    pred = model(torch.from_numpy(xte)).numpy()
acc = float((pred.argmax(1) == yte).mean())
print(f"held-out top-1: {acc:.4f} on {ntest} samples")

conv1, bn1, conv2, bn2, fc = model[0], model[1], model[4], model[5], model[9]


def hexdata(a):
    return 'dense<"0x' + np.ascontiguousarray(a, dtype="<f4").tobytes().hex().upper() + '">'


def ty(shape):
    return "tensor<" + "".join(f"{d}x" for d in shape) + "f32>"


def const(name, a):
    return f"  %{name} = const {hexdata(a)} : {ty(a.shape)}"


def ohwi(w):  # torch OIHW -> dyad OHWI
    return w.detach().numpy().transpose(0, 2, 3, 1)


def bnparams(prefix, bn):
    return [const(prefix + "_scale", bn.weight.detach().numpy()),
            const(prefix + "_bias", bn.bias.detach().numpy()),
            const(prefix + "_mean", bn.running_mean.numpy()),
            const(prefix + "_var", bn.running_var.numpy())]


lines = [
    "// A small CNN trained on scikit-learn's 8x8 digits by train.py",
    f"// (held-out top-1 {acc:.4f}). Input: 1x8x8x1 pixels in [0, 1]; output:",
    "// class probabilities.",
    "graph @digits(%image: tensor<1x8x8x1xf32>) -> tensor<1x10xf32> {",
    const("w1", ohwi(conv1.weight)), const("b1", conv1.bias.detach().numpy()),
    "  %c1 = conv2d %image, %w1, %b1 {pads = [1, 1, 1, 1]} : tensor<1x8x8x8xf32>",
    *bnparams("bn1", bn1),
    f"  %n1 = batchnorm %c1, %bn1_scale, %bn1_bias, %bn1_mean, %bn1_var {{epsilon = {bn1.eps!r}}} : tensor<1x8x8x8xf32>",
    "  %r1 = relu %n1 : tensor<1x8x8x8xf32>",
    "  %p1 = maxpool %r1 {kernel = [2, 2], strides = [2, 2]} : tensor<1x4x4x8xf32>",
    const("w2", ohwi(conv2.weight)), const("b2", conv2.bias.detach().numpy()),
    "  %c2 = conv2d %p1, %w2, %b2 {pads = [1, 1, 1, 1]} : tensor<1x4x4x16xf32>",
    *bnparams("bn2", bn2),
    f"  %n2 = batchnorm %c2, %bn2_scale, %bn2_bias, %bn2_mean, %bn2_var {{epsilon = {bn2.eps!r}}} : tensor<1x4x4x16xf32>",
    "  %r2 = relu %n2 : tensor<1x4x4x16xf32>",
    "  %g = global_avgpool %r2 : tensor<1x1x1x16xf32>",
    "  %f = flatten %g : tensor<1x16xf32>",
    const("fc_w", fc.weight.detach().numpy().T),  # torch (out,in) -> KxN
    const("fc_b", fc.bias.detach().numpy()),
    "  %logits = matmul %f, %fc_w, %fc_b : tensor<1x10xf32>",
    "  %probs = softmax %logits : tensor<1x10xf32>",
    "  return %probs",
    "}",
]
with open(os.path.join(here, "digits.dy"), "w") as f:
    f.write("\n".join(lines) + "\n")
# A handful of held-out samples, NHWC, one file per sample plus the batch.
nsamp = 8
samples = xte[:nsamp].transpose(0, 2, 3, 1)  # N,8,8,1
np.save(os.path.join(here, "samples.npy"), samples)
np.save(os.path.join(here, "labels.npy"), yte[:nsamp].astype(np.int64))
np.save(os.path.join(here, "expected.npy"), pred[:nsamp].astype(np.float32))
for i in range(nsamp):
    np.save(os.path.join(here, f"sample{i}.npy"), samples[i:i + 1])
    np.save(os.path.join(here, f"expected{i}.npy"), pred[i:i + 1].astype(np.float32))
print("labels:", yte[:nsamp].tolist())
print("torch :", pred[:nsamp].argmax(1).tolist())


# ---------------------------------------------------------------------------
# The float model as ONNX. Eval-mode export folds each BatchNorm into its Conv.
import onnx  # noqa: E402


def census(path):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))


def export(m, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 1.13's shape-inference chatter
        torch.onnx.export(m, torch.from_numpy(xte[:1]), path,
                          input_names=["image"], output_names=["probs"],
                          opset_version=13, do_constant_folding=True)
    print(f"{os.path.basename(path)}: {census(path)}")


export(model, os.path.join(here, "digits.onnx"))


# ---------------------------------------------------------------------------
# Post-training static quantization with torch's eager mode: a copy of the
# trained model between QuantStub and DeQuantStub, conv+bn+relu fused, the
# softmax left in float after the DeQuantStub.
class QuantDigits(nn.Module):
    def __init__(self, m):
        super().__init__()
        m = copy.deepcopy(m)
        self.quant = torch.ao.quantization.QuantStub()
        self.conv1, self.bn1, self.relu1, self.pool1 = m[0], m[1], m[2], m[3]
        self.conv2, self.bn2, self.relu2 = m[4], m[5], m[6]
        self.gap, self.flat, self.fc = m[7], m[8], m[9]
        self.dequant = torch.ao.quantization.DeQuantStub()
        self.softmax = m[10]

    def forward(self, t):
        t = self.quant(t)
        t = self.pool1(self.relu1(self.bn1(self.conv1(t))))
        t = self.relu2(self.bn2(self.conv2(t)))
        t = self.fc(self.flat(self.gap(t)))
        return self.softmax(self.dequant(t))


# onednn's default qconfig: u8 activations per tensor (histogram observer, full
# range), i8 weights symmetric per output channel.
torch.backends.quantized.engine = "onednn"
qmodel = QuantDigits(model).eval()
qmodel = torch.ao.quantization.fuse_modules(
    qmodel, [["conv1", "bn1", "relu1"], ["conv2", "bn2", "relu2"]])
qmodel.qconfig = torch.ao.quantization.get_default_qconfig("onednn")
torch.ao.quantization.prepare(qmodel, inplace=True)
with torch.no_grad():
    qmodel(xt)  # calibrate on the whole training split
torch.ao.quantization.convert(qmodel, inplace=True)
with torch.no_grad():
    qpred = qmodel(torch.from_numpy(xte)).numpy()
qacc = float((qpred.argmax(1) == yte).mean())
export(qmodel, os.path.join(here, "digits_qdq.onnx"))

# The whole held-out split, NHWC, with torch's outputs for both models.
np.save(os.path.join(here, "heldout_x.npy"), np.ascontiguousarray(xte.transpose(0, 2, 3, 1)))
np.save(os.path.join(here, "heldout_y.npy"), yte.astype(np.int64))
np.save(os.path.join(here, "heldout_torch.npy"), pred.astype(np.float32))
np.save(os.path.join(here, "heldout_torch_qdq.npy"), qpred.astype(np.float32))
agree = int((qpred.argmax(1) == pred.argmax(1)).sum())
print(f"held-out top-1, float:     {acc:.4f} ({int((pred.argmax(1) == yte).sum())}/{ntest})")
print(f"held-out top-1, quantized: {qacc:.4f} ({int((qpred.argmax(1) == yte).sum())}/{ntest}); "
      f"argmax agrees with float on {agree}/{ntest}")
