"""Moving the small host tensors a step draws (random numbers, indices) onto the device."""
from __future__ import annotations

import torch


def to_device(t: torch.Tensor, device) -> torch.Tensor:
    """A small host tensor (random draws, indices) on ``device``: on CUDA through pinned memory
    without blocking, so the host need not wait for the GPU to drain its queue (a plain copy
    from pageable memory does); elsewhere as ``t.to(device)``. The values are the same."""
    device = torch.device(device)
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
