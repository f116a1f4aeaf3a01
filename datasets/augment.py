"""Batch augmentation on tensors (no DataLoader): the standard CIFAR random crop with
padding 4 and horizontal flip, drawn per sample from a torch.Generator."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_flip(x: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4) -> torch.Tensor:
    n, _, h, w = x.shape
    dev = x.device
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=generator.device if generator else "cpu").to(dev)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=generator.device if generator else "cpu").to(dev)
    rows = (dy[:, None] + torch.arange(h, device=dev)[None])            # (n, h)
    cols = (dx[:, None] + torch.arange(w, device=dev)[None])            # (n, w)
    flip = torch.rand(n, generator=generator, device=generator.device if generator else "cpu").to(dev) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n, device=dev)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


AUGMENTATIONS = {
    "none": lambda x, generator=None: x,
    "crop_flip": crop_flip,
}
