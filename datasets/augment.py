"""Batch augmentation on tensors (no DataLoader): the standard CIFAR random crop with
padding 4 (zeros, i.e. the mean after normalisation) and horizontal flip, drawn per sample
from a torch.Generator."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from methods._device import to_device


def crop_flip(x: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4) -> torch.Tensor:
    """Per sample: pad by ``pad`` on every side, crop a random window of the input's size, then
    mirror it left-right with probability 1/2. ``x`` is (N, C, H, W); the draws come from
    ``generator`` (on its own device) so a seeded generator gives the same batch every time."""
    if x.dim() != 4:
        raise ValueError(f"crop_flip wants (N, C, H, W) images, got shape {tuple(x.shape)}")
    n, _, h, w = x.shape
    dev = x.device
    gdev = generator.device if generator is not None else torch.device("cpu")
    draw = lambda high: to_device(torch.randint(0, high, (n,), generator=generator, device=gdev), dev)
    dy, dx = draw(2 * pad + 1), draw(2 * pad + 1)
    flip = to_device(torch.rand(n, generator=generator, device=gdev) < 0.5, dev)
    padded = F.pad(x, (pad, pad, pad, pad)) if pad else x
    rows = dy[:, None] + torch.arange(h, device=dev)[None]               # (n, h)
    cols = dx[:, None] + torch.arange(w, device=dev)[None]               # (n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)                # mirror the crop window
    idx_n = torch.arange(n, device=dev)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


AUGMENTATIONS = {
    "none": lambda x, generator=None: x,
    "crop_flip": crop_flip,
}
