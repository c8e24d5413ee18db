"""Training entry points for the embedded models (python -m hmu_demo.train.<model>)."""
