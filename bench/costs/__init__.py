"""The cost instruments: per-step time and memory of each method on synthetic inputs, the
harness's own overhead, packed trials' throughput, and the GPU check (``python -m bench gpu-check``).

Modules: cost, stepper, compare, overhead, packing, gpucheck.
"""
