"""The learning loop: the store of decisions and corrections, retrain trigger, gates, deploy."""
