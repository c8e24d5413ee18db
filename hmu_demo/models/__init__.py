"""Models: RVQ-VAE, masked/residual transformers, BAMM, length estimator, text encoders."""
