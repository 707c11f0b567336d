"""Running the system: the `triage` CLI, the embedded stack, shared connection settings."""
