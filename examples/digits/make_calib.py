"""Writes calib_x.npy: the first 256 samples of the digits training split
(the split train.py uses: numpy seed 0, the first 360 permuted samples are
held out), NHWC float32, for post-training calibration. The held-out set
stays unseen by calibration."""
import os

import numpy as np
from sklearn.datasets import load_digits

here = os.path.dirname(os.path.abspath(__file__))
np.random.seed(0)
digits = load_digits()
x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
perm = np.random.permutation(len(x))
x = x[perm]
xtr = x[360:]
np.save(os.path.join(here, "calib_x.npy"),
        np.ascontiguousarray(xtr[:256].transpose(0, 2, 3, 1)))
# the held-out split must be what train.py wrote
assert np.array_equal(np.load(os.path.join(here, "heldout_x.npy")),
                      x[:360].transpose(0, 2, 3, 1))
