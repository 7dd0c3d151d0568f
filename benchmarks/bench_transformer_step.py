#!/usr/bin/env python3
"""Chapter 5 benchmark: one float32 training step of nnfs.transformer.GPT against the same model in PyTorch.

    .venv/bin/python benchmarks/bench_transformer_step.py [--threads N]

The chapter's language model (vocabulary 118, context 64, d_model 64, 4 heads,
2 layers, batch 32), cross-entropy, AdamW, gradient clipping at 1.0.  Same
weights, same batches, same thread count; medians over repeats after a warm-up.
Prints the ratio nnfs / PyTorch (the target is <= 1.25) and the step's
overhead above its BLAS: the step time divided by the time of the same matrix
products alone, through NumPy's BLAS (the floor is 1.0; target <= 1.6).
Both for the NumPy layers and with Chapter 5's fuse(): the same model with its
attention softmax, LayerNorm and GELU as numba loops (the same numbers to float32
rounding).

NumPy and PyTorch are measured one after the other, never interleaved: their
BLAS and OpenMP thread pools spin while idle, so alternating steps of the two in
one process slows both.
"""

from __future__ import annotations

import argparse
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from _common import (median_seconds_per_call, products_seconds, random_array,
                     rerun_without_forced_openblas, torch_products)
from nnfs.nn import SoftmaxCrossEntropy
from nnfs.optim import AdamW
from nnfs.transformer import GPT, clip_grad_norm, fuse

V, T, D, H, L, B = 118, 64, 64, 4, 2, 32
STEPS, REPEATS = 10, 7


class TorchGPT(torch.nn.Module):
    """The same architecture as nnfs.transformer.GPT, initialised from its weights."""

    def __init__(self, ours: GPT):
        super().__init__()
        t = lambda a: torch.nn.Parameter(torch.from_numpy(np.array(a)))  # noqa: E731
        self.tok, self.pos = t(ours.tok.weight.data), t(ours.pos.weight.data)
        self.blocks = torch.nn.ModuleList()
        for blk in ours.blocks:
            m = torch.nn.Module()
            m.g1, m.b1, m.g2, m.b2 = t(blk.ln1.gamma.data), t(blk.ln1.beta.data), t(blk.ln2.gamma.data), t(blk.ln2.beta.data)
            m.wqkv, m.bqkv = t(blk.attn.qkv.weight.data), t(blk.attn.qkv.bias.data)
            m.wo, m.bo = t(blk.attn.proj.weight.data), t(blk.attn.proj.bias.data)
            m.w1, m.bb1 = t(blk.ffn.fc.weight.data), t(blk.ffn.fc.bias.data)
            m.w2, m.bb2 = t(blk.ffn.out.weight.data), t(blk.ffn.out.bias.data)
            self.blocks.append(m)
        self.gf, self.bf = t(ours.ln_f.gamma.data), t(ours.ln_f.beta.data)

    def forward(self, idx):
        b, n = idx.shape
        x = self.tok[idx] + self.pos[:n]
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
        for m in self.blocks:
            h = F.layer_norm(x, (D,), m.g1, m.b1)
            q, k, v = (h @ m.wqkv + m.bqkv).view(b, n, 3, H, D // H).permute(2, 0, 3, 1, 4)
            att = ((q @ k.transpose(-1, -2)) / math.sqrt(D // H)).masked_fill(mask, float("-inf")).softmax(-1)
            x = x + ((att @ v).transpose(1, 2).reshape(b, n, D) @ m.wo + m.bo)
            h = F.layer_norm(x, (D,), m.g2, m.b2)
            x = x + (F.gelu(h @ m.w1 + m.bb1, approximate="tanh") @ m.w2 + m.bb2)
        return F.layer_norm(x, (D,), self.gf, self.bf) @ self.tok.T


def step_products(rng):
    """The matrix products of one step, with the layouts nnfs.transformer uses.

    Per block: the four Linear layers (qkv, proj, fc, out), each forward x @ W,
    x.T @ g and g @ W.T; attention's q @ k^T and att @ v and their four backward
    products, on the head views of the (B*T, 3C) qkv output.  Then the tied
    output layer (three products) and the token embedding's one-hot product.
    """
    n, hd = B * T, D // H
    r = lambda *shape, t=False: random_array(rng, shape, t)  # noqa: E731
    products = []
    for _ in range(L):
        for a, b in ((D, 3 * D), (D, D), (D, 4 * D), (4 * D, D)):
            x, w, g = r(n, a), r(a, b), r(n, b)
            products += [(x, w), (x.T, g), (g, w.T)]
        qkv = r(n, 3 * D).reshape(B, T, 3, H, hd).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att, d_scores = r(B, H, T, T), r(B, H, T, T)
        dy = r(n, D).reshape(B, T, H, hd).transpose(0, 2, 1, 3)
        products += [(q, k.transpose(0, 1, 3, 2)), (att, v),
                     (dy, v.transpose(0, 1, 3, 2)), (att.transpose(0, 1, 3, 2), dy),
                     (d_scores, k), (d_scores.transpose(0, 1, 3, 2), q)]
    h, tok, g = r(n, D), r(V, D), r(n, V)
    products += [(h, tok.T), (g.T, h), (g, tok), (r(n, V).T, r(n, D))]
    return products


def median_step(step) -> float:
    return median_seconds_per_call(lambda: [step() for _ in range(STEPS)], STEPS, REPEATS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--keep-openblas-env", action="store_true")
    threads = parser.parse_args().threads
    rng = np.random.default_rng(0)
    x = rng.integers(0, V, (B, T))
    y = rng.integers(0, V, (B, T))
    ours = GPT(V, T, D, H, L, rng=np.random.default_rng(1))
    theirs = TorchGPT(ours)
    opt, loss_fn = AdamW(ours.parameters(), lr=1e-3), SoftmaxCrossEntropy()
    topt = torch.optim.AdamW(theirs.parameters(), lr=1e-3, weight_decay=1e-2)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    # the same model with Chapter 5's fused layers, from the same weights
    fused = fuse(GPT(V, T, D, H, L, rng=np.random.default_rng(1)))
    fopt = AdamW(fused.parameters(), lr=1e-3)

    def nnfs_step(model=ours, opt=opt):
        opt.zero_grad()
        logits = model(x)
        loss_fn(logits.reshape(-1, V), y.reshape(-1))
        model.backward(loss_fn.backward().reshape(logits.shape))
        clip_grad_norm(model.parameters(), 1.0)
        opt.step()

    def torch_step():
        topt.zero_grad()
        F.cross_entropy(theirs(tx).reshape(-1, V), ty.reshape(-1)).backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
        topt.step()

    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        t_nnfs = median_step(nnfs_step)
        t_fused = median_step(lambda: nnfs_step(fused, fopt))
        products = step_products(np.random.default_rng(2))
        t_blas = products_seconds(products, STEPS * REPEATS)
        t_torch_blas = products_seconds(torch_products(products), STEPS * REPEATS)
        t_torch = median_step(torch_step)
    print(f"GPT V={V} T={T} d={D} heads={H} layers={L}, batch {B}, float32, {threads} threads")
    print(f"nnfs   : {t_nnfs * 1e3:7.2f} ms/step")
    print(f"nnfs with fuse (Chapter 5): {t_fused * 1e3:7.2f} ms/step")
    print(f"PyTorch: {t_torch * 1e3:7.2f} ms/step")
    print(f"its matrix products alone: {t_blas * 1e3:7.2f} ms/step; "
          f"through PyTorch's BLAS: {t_torch_blas * 1e3:7.2f} ms/step "
          f"(NumPy's BLAS / PyTorch's = {t_blas / t_torch_blas:.2f})")
    print(f"ratio nnfs / PyTorch = {t_nnfs / t_torch:.2f}  (target <= 1.25)")
    print(f"overhead above BLAS = {t_nnfs / t_blas:.2f}  (floor 1.0, target <= 1.6)")
    print(f"overhead of PyTorch above its own BLAS = {t_torch / t_torch_blas:.2f}")
    print(f"ratio with fuse = {t_fused / t_torch:.2f}; overhead with fuse = {t_fused / t_blas:.2f}")


if __name__ == "__main__":
    rerun_without_forced_openblas()
    main()
