"""Models: RVQ-VAE and quantizer, masked/residual transformers, BAMM, length estimator, text encoders,
the model bundle and official-checkpoint files, the judge and the text-motion evaluators."""
