"""Evaluation: the judge (action/violence classifier), evaluators, metrics, benchmark."""
