"""Evaluation of generated motions: metrics, protocols, the benchmark and its presets, reports."""
