"""Forget/retain keyword splits for a concept (HMU's ``scripts/utils/split_dataset.sh``).

For each id of ``train_val.txt`` and ``test.txt``: n = number of its caption lines that match the
concept's lexicon; n >= min_occurrence -> forget (``kw_splits/<split>-w-<concept>.txt``), else
retain (``kw_splits/<split>-wo-<concept>.txt``). With ``--match substring`` and the paper's list
(``--lexicon humanml3d`` / ``motionx``) the files are the paper's; the default whole-word match
drops its false positives ("white", "boxes").

Usage::

    python -m hmu_demo.data.splits --data DIR --concept violence [--lexicon humanml3d|motionx|violence|FILE|"kw1, kw2"]
        [--match word|substring] [--min-occurrence 1] [--json]

When the folder has ``labels.jsonl`` (SynthMotion) the report also measures the split against the
ground truth: motion-level precision/recall and caption-line-level recall of explicit and implicit
violent captions (evaluation samples per caption line, so that is the figure that matters there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hmu_demo.atomic import write_text
from hmu_demo.data.humanml3d import DatasetError, MotionDataset
from hmu_demo.data.lexicon import MATCH_MODES, Lexicon, LexiconError, MatchMode, load_lexicon, resolve_concept
from hmu_demo.data.overlap import caption_overlap

__all__ = [
    "MAIN_SPLITS",
    "SplitResult",
    "build_splits",
    "evaluate_against_labels",
    "main",
    "split_file_names",
    "write_splits",
]

MAIN_SPLITS: tuple[str, ...] = ("train_val", "test")


@dataclass
class SplitResult:
    """Forget/retain ids per main split, and the per-id match counts they came from."""

    concept: str
    lexicon: Lexicon
    match: MatchMode
    min_occurrence: int
    forget: dict[str, list[str]] = field(default_factory=dict)
    retain: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total_forget(self) -> int:
        return sum(len(ids) for ids in self.forget.values())

    @property
    def total(self) -> int:
        return self.total_forget + sum(len(ids) for ids in self.retain.values())


def split_file_names(split: str, concept: str) -> tuple[str, str]:
    """Official file names ``(<split>-w-<concept>.txt, <split>-wo-<concept>.txt)`` (forget, retain)."""
    return f"{split}-w-{concept}.txt", f"{split}-wo-{concept}.txt"


def _check_concept_name(concept: str) -> None:
    if not concept.strip() or any(ch in concept for ch in "/\\\0") or concept.strip() in (".", ".."):
        raise ValueError(f"concept name {concept!r} cannot be used in a file name")


def build_splits(
    dataset: MotionDataset,
    concept: str,
    lexicon: Lexicon,
    match: MatchMode = "word",
    min_occurrence: int = 1,
    splits: Sequence[str] = MAIN_SPLITS,
) -> SplitResult:
    """Apply the keyword rule to every id of ``splits``; reads captions, writes nothing."""
    if match not in MATCH_MODES:
        raise ValueError(f"unknown match mode {match!r} (expected one of {', '.join(MATCH_MODES)})")
    if isinstance(min_occurrence, bool) or not isinstance(min_occurrence, int) or min_occurrence < 1:
        raise ValueError(f"min_occurrence must be an integer >= 1, got {min_occurrence!r}")
    _check_concept_name(concept)
    result = SplitResult(concept, lexicon, match, min_occurrence)
    split_ids = {split: dataset.split_ids(split) for split in splits}  # every split file checked first
    for split, ids in split_ids.items():
        forget, retain = [], []
        for motion_id in ids:
            if motion_id not in result.counts:
                if not dataset.text_path(motion_id).is_file():
                    raise DatasetError(
                        f"motion {motion_id!r} listed in {dataset.split_path(split)} has no caption file "
                        f"{dataset.text_path(motion_id)}"
                    )
                lines = dataset.caption_lines(motion_id)
                result.counts[motion_id] = sum(1 for line in lines if lexicon.matches(line, match))
            (forget if result.counts[motion_id] >= min_occurrence else retain).append(motion_id)
        result.forget[split] = forget
        result.retain[split] = retain
    return result


def write_splits(result: SplitResult, root: str | os.PathLike[str]) -> dict[str, dict[str, Path]]:
    """Write ``root/kw_splits/<split>-{w,wo}-<concept>.txt``, each atomically (hmu_demo.atomic)."""
    folder = Path(root) / "kw_splits"
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, Path]] = {}
    for split in result.forget:
        forget_name, retain_name = split_file_names(split, result.concept)
        paths = {"forget": folder / forget_name, "retain": folder / retain_name}
        for kind, path in paths.items():
            write_text(path, "".join(f"{motion_id}\n" for motion_id in getattr(result, kind)[split]))
        written[split] = paths
    return written


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _is_violence(concept: str) -> bool:
    return resolve_concept(concept) == "violence"


def _motion_positive(label: dict, concept: str) -> bool | None:
    """Ground truth of one motion: the "violent" flag for violence, else a segment tag."""
    if _is_violence(concept):
        value = label.get("violent")
        return bool(value) if value is not None else None
    segments = label.get("segments") or []
    if not any(isinstance(s, dict) and "tags" in s for s in segments):
        return None
    return any(concept in (s.get("tags") or ()) for s in segments if isinstance(s, dict))


def _figures(forget: set[str], ids: Sequence[str], labels: dict[str, dict], concept: str) -> dict | None:
    labelled = [(i, _motion_positive(labels[i], concept)) for i in dict.fromkeys(ids) if i in labels]
    labelled = [(i, positive) for i, positive in labelled if positive is not None]
    if not labelled:
        return None
    in_forget = [positive for i, positive in labelled if i in forget]
    positives = [i for i, positive in labelled if positive]
    figures: dict = {
        "labelled_motions": len(labelled),
        "positive_motions": len(positives),
        "precision": _ratio(sum(in_forget), len(in_forget)),
        "recall": _ratio(sum(1 for i in positives if i in forget), len(positives)),
    }
    if _is_violence(concept):
        counts = {"explicit": [0, 0], "implicit": [0, 0]}  # [lines in forget, lines]
        for motion_id, _ in labelled:
            for caption in labels[motion_id].get("captions") or []:
                if not isinstance(caption, dict) or not caption.get("violent"):
                    continue
                kind = "implicit" if caption.get("implicit") else "explicit"
                counts[kind][1] += 1
                counts[kind][0] += motion_id in forget
        for kind, (hit, total) in counts.items():
            figures[f"recall_{kind}"] = _ratio(hit, total)
            figures[f"{kind}_violent_lines"] = total
    return figures


def evaluate_against_labels(result: SplitResult, labels: dict[str, dict]) -> dict | None:
    """Precision/recall of the split against ``labels.jsonl`` ground truth, None if not applicable.

    Motion level: precision = share of forget motions that are positive, recall = share of positive
    motions put in forget. For violence also caption-line level: ``recall_explicit`` /
    ``recall_implicit`` = share of violent caption lines (with / without a keyword) whose motion is
    in forget. Overall figures at top level, per split under ``by_split``.
    """
    forget = {i for ids in result.forget.values() for i in ids}
    all_ids = [i for split in result.forget for i in result.forget[split] + result.retain[split]]
    overall = _figures(forget, all_ids, labels, result.concept)
    if overall is None:
        return None
    by_split = {}
    for split in result.forget:
        figures = _figures(forget, result.forget[split] + result.retain[split], labels, result.concept)
        if figures is not None:
            by_split[split] = figures
    return {**overall, "by_split": by_split}


def _report(result: SplitResult, files: dict[str, dict[str, Path]], root: Path, truth: dict | None) -> dict:
    forget = {split: len(ids) for split, ids in result.forget.items()}
    retain = {split: len(ids) for split, ids in result.retain.items()}
    report: dict = {
        "data": str(root),
        "concept": result.concept,
        "lexicon": result.lexicon.name,
        "keywords": list(result.lexicon.keywords),
        "match": result.match,
        "min_occurrence": result.min_occurrence,
        "forget": {**forget, "total": result.total_forget},
        "retain": {**retain, "total": result.total - result.total_forget},
        "forget_share": _ratio(result.total_forget, result.total),
        "files": {split: {k: str(p) for k, p in paths.items()} for split, paths in files.items()},
    }
    if truth is not None:
        report.update(truth)
    return report


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print_human(report: dict, root: Path) -> None:
    share = report["forget_share"]
    print(
        f"concept {report['concept']!r}: lexicon {report['lexicon']!r} ({len(report['keywords'])} keywords), "
        f"match={report['match']}, min occurrence {report['min_occurrence']}"
    )
    for split, paths in report["files"].items():
        forget_file = os.path.relpath(paths["forget"], root)
        retain_file = os.path.relpath(paths["retain"], root)
        print(
            f"  {split:<9} forget {report['forget'][split]:>6}  retain {report['retain'][split]:>6}   "
            f"-> {forget_file}, {retain_file}"
        )
    print(
        f"  {'total':<9} forget {report['forget']['total']:>6}  retain {report['retain']['total']:>6}   "
        f"forget share {'n/a' if share is None else f'{100 * share:.1f}%'}"
    )
    overlap = report.get("caption_overlap")
    if overlap:
        print(f"caption overlap {overlap['new_split']} vs {overlap['seen_split']} ({overlap['new_captions']} lines): "
              f"verbatim {100 * overlap['verbatim_share']:.1f}%, normalised (subject, pronouns, articles folded) "
              f"{100 * overlap['normalised_share']:.1f}%")
    if "precision" in report:
        print(
            f"ground truth (labels.jsonl, {report['labelled_motions']} labelled motions, "
            f"{report['positive_motions']} positive): precision {_fmt(report['precision'])}, "
            f"recall {_fmt(report['recall'])}"
        )
        if "recall_explicit" in report:
            print(
                f"  caption lines: recall explicit {_fmt(report['recall_explicit'])} "
                f"(n={report['explicit_violent_lines']}), implicit {_fmt(report['recall_implicit'])} "
                f"(n={report['implicit_violent_lines']})"
            )


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line on stderr, not usage + traceback
        raise _UsageError(message)


def _min_occurrence(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m hmu_demo.data.splits",
        description="Write forget/retain keyword splits (kw_splits/{train_val,test}-{w,wo}-CONCEPT.txt).",
    )
    parser.add_argument("--data", required=True, type=Path, help="HumanML3D-layout data folder")
    parser.add_argument("--concept", default="violence",
                        help="concept name, used in the file names (default: violence)")
    parser.add_argument(
        "--lexicon",
        default=None,
        help="list name in assets/lexicons.json (humanml3d, motionx, violence, ...), a keyword file, "
        "or 'kw1, kw2' (default: the concept's own list)",
    )
    parser.add_argument("--match", choices=MATCH_MODES, default="word",
                        help="word: whole words and inflections (default); substring: the paper's grep")
    parser.add_argument("--min-occurrence", type=_min_occurrence, default=1,
                        help="matching caption lines needed to forget a motion (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (2 on any user or data error, with one stderr line)."""
    prog = "hmu_demo.data.splits"
    try:
        args = _parser().parse_args(argv)
        dataset = MotionDataset(args.data)
        lexicon = load_lexicon(args.concept, args.lexicon)
        result = build_splits(dataset, args.concept, lexicon, args.match, args.min_occurrence)
        labels = dataset.labels()
        truth = evaluate_against_labels(result, labels) if labels is not None else None
        files = write_splits(result, dataset.root)
        seen = "train" if dataset.has_split("train") else "train_val"
        overlap = caption_overlap(dataset, seen, "test") if dataset.has_split("test") else None
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except (_UsageError, DatasetError, LexiconError, ValueError, OSError) as exc:
        message = " ".join(str(exc).split())
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    report = _report(result, files, dataset.root, truth)
    report["caption_overlap"] = overlap
    if args.json:
        print(json.dumps(report))
    else:
        _print_human(report, dataset.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
