"""The sweep: which trials a suite holds under a profile, running them through Ray, and the
results store they land in.

Modules: suites, profiles, overrides, checks, runner, tune, store, cluster, reaper, provenance.
"""
