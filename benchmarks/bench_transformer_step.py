#!/usr/bin/env python3
"""Chapter 5 benchmark: one float32 training step of nnfs.transformer.GPT against the same model in PyTorch.

    .venv/bin/python benchmarks/bench_transformer_step.py [--threads N]

The chapter's language model (vocabulary 118, context 64, d_model 64, 4 heads,
2 layers, batch 32), cross-entropy, AdamW, gradient clipping at 1.0.  Same
weights, same batches, same thread count; medians over repeats after a warm-up.
Prints the ratio nnfs / PyTorch (the target is <= 1.5).
"""

from __future__ import annotations

import argparse
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from _common import median_seconds_per_call, rerun_without_forced_openblas
from nnfs.nn import SoftmaxCrossEntropy
from nnfs.optim import AdamW
from nnfs.transformer import GPT, clip_grad_norm

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

    def nnfs_step():
        opt.zero_grad()
        logits = ours(x)
        loss_fn(logits.reshape(-1, V), y.reshape(-1))
        ours.backward(loss_fn.backward().reshape(logits.shape))
        clip_grad_norm(ours.parameters(), 1.0)
        opt.step()

    def torch_step():
        topt.zero_grad()
        F.cross_entropy(theirs(tx).reshape(-1, V), ty.reshape(-1)).backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
        topt.step()

    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        t_nnfs, t_torch = median_step(nnfs_step), median_step(torch_step)
    print(f"GPT V={V} T={T} d={D} heads={H} layers={L}, batch {B}, float32, {threads} threads")
    print(f"nnfs   : {t_nnfs * 1e3:7.2f} ms/step")
    print(f"PyTorch: {t_torch * 1e3:7.2f} ms/step")
    print(f"ratio nnfs / PyTorch = {t_nnfs / t_torch:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    rerun_without_forced_openblas()
    main()
