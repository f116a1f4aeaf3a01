"""The sweep: which trials a suite holds under a profile, running them through Ray (or, on a
machine without it, in local processes), and the results store they land in.

Modules: suites, profiles, overrides, checks, runner, local, rows, tune, store, cluster, reaper, provenance.
"""
