"""HMU Studio: human motion unlearning for text-to-motion models (MoMask, BAMM)."""

__version__ = "0.1.0"
