"""Concept unlearning for text-to-motion bundles: UCE, RECE, LCR and its variants, each registered
in :mod:`hmu_demo.unlearning.registry` and returning an :class:`~hmu_demo.unlearning.edit.Edit`
(docs/unlearning.md)."""
