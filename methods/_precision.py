"""Numeric precision of a training step: fp32, or mixed precision (bf16 / fp16 autocast).

The harness runs each ``method.update`` (and the evaluation) inside ``autocast(device, dtype)``:
convolutions and matrix products of the forward passes (and of L2R's / MWN's tangent pass)
run in the low-precision type, parameters and optimiser state stay fp32. What a method
computes from those passes that decides the weights is taken in fp32 under
``full_precision``: FSR's closed form, the tangent's per-sample dot products, MWN's weighting
network. fp16 also needs loss scaling: ``Context.scaler`` (a ``torch.amp.GradScaler``) scales
the real step (``Method.sgd_step``) and every meta-gradient backward (``scaled_grad``).

"fp32" is no autocast at all: the code path, and the numbers, of a run without this module.
"""
from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve(name: str, device: torch.device) -> str:
    """"auto": bf16 on a CUDA device that supports it, else fp32. On a CPU "auto" stays fp32 so
    that CPU runs keep fp32's numbers; bf16 there is a choice (``--precision bf16``: a ResNet-32
    step ran 1.65x faster on the 2-core development machine, whose CPU has bf16 instructions)."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}")
    if name == "auto":
        cuda = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return "bf16" if cuda else "fp32"
    return name


def autocast(device: torch.device, precision: str):
    """The context a step runs in: autocast to bf16 / fp16, or nothing for fp32."""
    dtype = DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def full_precision(device_type: str):
    """Autocast off inside (inputs still need ``.float()``: tensors keep their dtype)."""
    return torch.autocast(device_type=device_type, enabled=False)


def at_least_fp32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in fp32 if it is in a lower precision (bf16 / fp16 from autocast); fp32 and fp64 as they are."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def make_scaler(device: torch.device, precision: str):
    """A dynamic loss scaler for fp16 (None otherwise)."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


def scaled_grad(scaler, outputs, inputs, grad_outputs=None, **kwargs):
    """``torch.autograd.grad`` through an fp16 graph without underflow: the outputs scaled by
    the scaler's current scale, the gradients divided by it; on an overflow the scale is halved
    (for the scaler too) and the backward repeated. Without a scaler: plain autograd.grad."""
    if scaler is None:
        return torch.autograd.grad(outputs, inputs, grad_outputs=grad_outputs, **kwargs)
    scale = scaler.scale(torch.ones((), device=outputs.device)).item()   # (initialises a fresh scaler)
    for _ in range(24):
        go = torch.ones_like(outputs) * scale if grad_outputs is None else grad_outputs * scale
        grads = torch.autograd.grad(outputs, inputs, grad_outputs=go, **{**kwargs, "retain_graph": True})
        if bool(torch.stack([g.isfinite().all() for g in grads if g is not None]).all()):
            return tuple(None if g is None else g / scale for g in grads)
        scale /= 2.0
        scaler.update(new_scale=scale)
    raise FloatingPointError("fp16 meta-gradient overflows at every loss scale")
