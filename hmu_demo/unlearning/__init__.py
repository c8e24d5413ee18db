"""Concept unlearning for text-to-motion bundles: UCE, RECE, LCR and its variants (reference/unlearning.md)."""
