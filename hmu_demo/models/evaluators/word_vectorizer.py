"""GloVe word vectors + part-of-speech one-hots: the text input of the official T2M evaluator.

Reproduces the rules of Guo et al.'s ``WordVectorizer`` (text-to-motion's ``utils/word_vectorizer.py``) so that the
official text encoder sees exactly what it was trained on:

* a ``word/POS`` token maps to the word's GloVe row; an unknown word maps to ``unk`` with POS OTHER;
* a known word in one of the five "VIP" lists gets that list's class whatever the tagger said;
  any tag outside the 15 classes becomes OTHER;
* a sentence is ``sos`` + the first 20 tokens + ``eos``, padded with ``unk`` to 22 rows.

The files are the official ``glove/our_vab_{data.npy, words.pkl, idx.pkl}``. The two pickles hold
only a list and a dict, so they are read with an unpickler that refuses every global: a tampered
file cannot run code.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hmu_demo.models.evaluators.base import EvaluatorError

__all__ = ["POS_CLASSES", "VIP_WORDS", "MAX_TOKENS", "GLOVE_FILES", "WordVectorizer"]

#: The 15 POS classes, in the official one-hot order.
POS_CLASSES: tuple[str, ...] = (
    "VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV",
    "Loc_VIP", "Body_VIP", "Obj_VIP", "Act_VIP", "Desc_VIP", "OTHER",
)
_POS_INDEX = {name: i for i, name in enumerate(POS_CLASSES)}
_OTHER = _POS_INDEX["OTHER"]

#: Words whose class overrides the tagger's POS (checked in this order, first list wins).
VIP_WORDS: dict[str, frozenset[str]] = {
    "Loc_VIP": frozenset(("left right clockwise counterclockwise anticlockwise forward back backward up down "
                          "straight curve").split()),
    "Body_VIP": frozenset("arm chin foot feet face hand mouth leg waist eye knee shoulder thigh".split()),
    "Obj_VIP": frozenset("stair dumbbell chair window floor car ball handrail baseball basketball".split()),
    "Act_VIP": frozenset(("walk run swing pick bring kick put squat throw hop dance jump turn stumble stop sit "
                          "lift lower raise wash stand kneel stroll rub bend balance flap jog shuffle lean "
                          "rotate spin spread climb").split()),
    "Desc_VIP": frozenset("slowly carefully fast careful slow quickly happy angry sad happily angrily sadly".split()),
}

#: Tokens kept per sentence (the official ``max_text_len``); sentences have MAX_TOKENS + 2 rows.
MAX_TOKENS = 20

#: File names inside the official ``glove/`` folder.
GLOVE_FILES = {"vectors": "our_vab_data.npy", "words": "our_vab_words.pkl", "index": "our_vab_idx.pkl"}

_SPECIAL = ("sos", "eos", "unk")


class _PlainUnpickler(pickle.Unpickler):
    """Builds lists, dicts, strings and numbers only; any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")


def _read_pickle(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise EvaluatorError(f"cannot read GloVe file {path}: {err.strerror or err}") from err
    try:
        return _PlainUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise EvaluatorError(f"refusing or unable to unpickle {path} (only a plain list/dict is accepted): "
                             f"{err}") from err
    except Exception as err:  # truncated or not a pickle at all
        raise EvaluatorError(f"{path} is not a readable pickle: {type(err).__name__}: {err}") from err


def _read_vectors(path: Path) -> np.ndarray:
    try:
        vectors = np.load(path, allow_pickle=False)
    except FileNotFoundError as err:
        raise EvaluatorError(f"GloVe file {path} does not exist") from err
    except Exception as err:
        raise EvaluatorError(f"{path} is not a readable .npy array: {type(err).__name__}: {err}") from err
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise EvaluatorError(f"{path}: expected a 2-D float array (words, dim), got {vectors.dtype} "
                             f"{vectors.shape}")
    return vectors


def _split(token: str) -> tuple[str, str]:
    """``word/POS`` -> (word, POS); a token without a tag has POS ''."""
    word, sep, pos = token.rpartition("/")
    return (word, pos) if sep else (token, "")


class WordVectorizer:
    """Turns ``word/POS`` tokens into (GloVe vector, POS one-hot) rows, as the official evaluator does."""

    def __init__(self, vectors: np.ndarray, words: Sequence[str], index: Mapping[str, int],
                 source: str = "<memory>") -> None:
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise EvaluatorError(f"{source}: word vectors must be 2-D (words, dim), got shape {vectors.shape}")
        if not isinstance(words, (list, tuple)) or not all(isinstance(w, str) for w in words):
            raise EvaluatorError(f"{source}: the word list must be a list of strings")
        if not isinstance(index, Mapping):
            raise EvaluatorError(f"{source}: the word index must be a dict word -> row")
        if len(words) != vectors.shape[0]:
            raise EvaluatorError(f"{source}: {vectors.shape[0]} vector rows but {len(words)} words")
        missing = [w for w in _SPECIAL if w not in index or w not in words]
        if missing:
            raise EvaluatorError(f"{source}: special token(s) {', '.join(missing)} missing from the vocabulary")
        rows: dict[str, int] = {}
        for word in words:  # like the official code, only listed words are looked up
            row = index.get(word)
            if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < vectors.shape[0]:
                raise EvaluatorError(f"{source}: word {word!r} has index {row!r}, expected a row in "
                                     f"0..{vectors.shape[0] - 1}")
            rows[word] = row
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.rows = rows
        self.source = source

    @classmethod
    def load(cls, folder: str | Path) -> WordVectorizer:
        """Read ``our_vab_data.npy``, ``our_vab_words.pkl`` and ``our_vab_idx.pkl`` from ``folder``."""
        folder = Path(folder).expanduser()
        paths = {key: folder / name for key, name in GLOVE_FILES.items()}
        absent = [str(p) for p in paths.values() if not p.is_file()]
        if absent:
            raise EvaluatorError(f"GloVe file(s) missing: {', '.join(absent)} (the official glove/ folder "
                                 f"of EricGuo5513/text-to-motion)")
        vectors = _read_vectors(paths["vectors"])
        words = _read_pickle(paths["words"])
        index = _read_pickle(paths["index"])
        if not isinstance(words, list):
            raise EvaluatorError(f"{paths['words']} holds a {type(words).__name__}, expected a list of words")
        if not isinstance(index, dict):
            raise EvaluatorError(f"{paths['index']} holds a {type(index).__name__}, expected a dict word -> row")
        return cls(vectors, words, index, source=str(folder))

    @property
    def dim(self) -> int:
        """Length of a word vector (300 for the official GloVe)."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.rows)

    def pos_class(self, token: str) -> str:
        """The POS class the official rules give ``token`` (``word/POS``)."""
        word, pos = _split(token)
        if word not in self.rows:
            return "OTHER"
        vip = next((name for name, members in VIP_WORDS.items() if word in members), None)
        return vip or (pos if pos in _POS_INDEX else "OTHER")

    def lookup(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """(dim,) word vector and (15,) POS one-hot of one ``word/POS`` token."""
        vector = self.vectors[self.rows.get(_split(token)[0], self.rows["unk"])]
        onehot = np.zeros(len(POS_CLASSES), dtype=np.float32)
        onehot[_POS_INDEX[self.pos_class(token)]] = 1.0
        return vector, onehot

    def encode(self, tokens: Sequence[str], max_tokens: int = MAX_TOKENS) -> tuple[np.ndarray, np.ndarray, int]:
        """(max_tokens+2, dim) word vectors, (max_tokens+2, 15) one-hots and the length counting sos/eos."""
        if max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
        sentence = ["sos/OTHER", *list(tokens)[:max_tokens], "eos/OTHER"]
        length = len(sentence)
        sentence += ["unk/OTHER"] * (max_tokens + 2 - length)
        pairs = [self.lookup(token) for token in sentence]
        return np.stack([v for v, _ in pairs]), np.stack([p for _, p in pairs]), length
