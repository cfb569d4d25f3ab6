#!/usr/bin/python3
"""Trains a small CNN on scikit-learn's bundled 8x8 digits (offline) with
PyTorch and writes it as a dyad graph (digits.dy, NHWC, weights inline as
hex), a few held-out samples (samples.npy, labels.npy) and torch's outputs
for them (expected.npy). Run with Debian's /usr/bin/python3 (python3-torch,
python3-sklearn). The outputs are committed: nothing else needs torch."""
import os

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
