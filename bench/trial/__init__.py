"""One trial's training: the harness every method runs under, its networks, learning-rate
schedules, checkpoints, diagnostics and the step instruments it records.

Modules: harness, models, schedules, checkpoint, diagnostics, instruments, allocator.
"""
