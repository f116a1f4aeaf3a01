"""One trial's training: the harness every method runs under, its networks, learning-rate
schedules, captured (compiled) steps, checkpoints, diagnostics and the step instruments it records.

Modules: harness, models, schedules, capture, checkpoint, diagnostics, instruments, allocator.
"""
