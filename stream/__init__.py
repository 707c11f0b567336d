"""The streaming path: Faust app, the classify agent, dead letters, dedup."""
