"""Independent NumPy implementations of the SENet and CBAM equations (no torch in the math)."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    # MobileNetV3: ReLU6(x + 3) / 6
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def fc(z: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """z [N, in], w [out, in] (or [out, in, 1, 1]) -> [N, out]."""
    w2 = w.reshape(w.shape[0], w.shape[1])
    y = z @ w2.T
    return y if b is None else y + b


def se(u: np.ndarray, w1, b1, w2, b2, gate=sigmoid) -> np.ndarray:
    """SENet Eq. 2-4: z = GAP(u); s = gate(W2 relu(W1 z)); out = s * u."""
    z = u.mean(axis=(2, 3))
    s = gate(fc(relu(fc(z, w1, b1)), w2, b2))
    return u * s[:, :, None, None]


def channel_attention(f: np.ndarray, w1, b1, w2, b2) -> np.ndarray:
    """CBAM Eq. 2: M_c = sigma(MLP(AvgPool F) + MLP(MaxPool F)), shared MLP."""
    def mlp(z):
        return fc(relu(fc(z, w1, b1)), w2, b2)

    m = sigmoid(mlp(f.mean(axis=(2, 3))) + mlp(f.max(axis=(2, 3))))
    return f * m[:, :, None, None]


def conv2d_same(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Direct cross-correlation, stride 1, zero padding k//2. x [N, Cin, H, W], w [Cout, Cin, k, k]."""
    n, cin, h, wd = x.shape
    cout, _, k, _ = w.shape
    p = k // 2
    xp = np.zeros((n, cin, h + 2 * p, wd + 2 * p), dtype=np.float64)
    xp[:, :, p:p + h, p:p + wd] = x
    out = np.zeros((n, cout, h, wd), dtype=np.float64)
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i:i + h, j:j + wd]  # [N, Cin, H, W]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out if b is None else out + b[None, :, None, None]


def batch_norm_eval(x: np.ndarray, gamma, beta, mean, var, eps=1e-5) -> np.ndarray:
    shape = (1, -1, 1, 1)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)


def spatial_attention(f: np.ndarray, w, b, order="mean_max", bn=None) -> np.ndarray:
    """CBAM Eq. 3: M_s = sigma(conv_kxk([AvgPool_c F; MaxPool_c F])) (official code: [max; mean] + BN)."""
    avg = f.mean(axis=1, keepdims=True)
    mx = f.max(axis=1, keepdims=True)
    pooled = np.concatenate([avg, mx] if order == "mean_max" else [mx, avg], axis=1)
    y = conv2d_same(pooled, w, b)
    if bn is not None:
        y = batch_norm_eval(y, *bn)
    return f * sigmoid(y)
