"""The web service: the review queue for triage managers and the ops dashboard (`triage web`)."""
