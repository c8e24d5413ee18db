"""Text-motion evaluators: caption and motion embeddings in one space, what the metrics are computed on.

``base`` (the interface and its error), ``nets`` (Guo et al.'s networks), ``t2m_official`` +
``word_vectorizer`` (the official evaluator from its files), ``embedded`` (the SynthMotion one shipped in
``checkpoints/evaluator``), ``retrieval`` (R-precision and MM-Dist of paired embeddings).
"""
