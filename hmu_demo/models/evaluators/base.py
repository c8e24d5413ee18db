"""What every text-motion evaluator offers the metrics: embeddings of captions and of motions.

Two implementations share the interface:

* :class:`hmu_demo.models.evaluators.t2m_official.OfficialT2MEvaluator`: Guo et al.'s evaluator loaded from the
  official files (GloVe word vectors + part-of-speech one-hots on the text side);
* :class:`hmu_demo.models.evaluators.embedded.EmbeddedEvaluator`: the same motion design trained on
  SynthMotion, with a text side on the MiniLM sentence embedding, shipped in ``checkpoints/``.

Motions are given as raw (de-normalised) HumanML3D feature arrays (T, 263), one per motion, as
the data set stores them and as :class:`hmu_demo.pipelines.text_to_motion.TextToMotionPipeline` returns them; each evaluator
normalises with its own statistics. Captions are :class:`hmu_demo.data.captions.Caption` objects:
the official evaluator reads their ``word/POS`` tokens, the embedded one their text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from hmu_demo.data.captions import Caption

__all__ = ["TextMotionEvaluator", "EvaluatorError"]


class EvaluatorError(Exception):
    """An evaluator's files are missing or do not match the expected format (a clear one-line message)."""


class TextMotionEvaluator(ABC):
    """Maps captions and motions into one space where matching pairs lie close (Euclidean)."""

    #: short identifier written next to every number it produces, e.g. "t2m-official" or "embedded".
    name: str = ""
    #: length of the embeddings
    dim: int = 0

    @abstractmethod
    def describe(self) -> str:
        """One line: which evaluator, which files, trained on what (printed with every table)."""

    @abstractmethod
    def embed_texts(self, captions: Sequence[Caption]) -> np.ndarray:
        """(N, dim) float64 text embeddings, in the order given."""

    @abstractmethod
    def embed_motions(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """(N, dim) float64 motion embeddings of raw (T_i, 263) feature arrays, in the order given.

        Motions shorter than the evaluator's temporal stride (4 frames) raise ValueError.
        """
