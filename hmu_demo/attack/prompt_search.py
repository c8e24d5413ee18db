"""Prompt search (black box): edit a violent prompt word by word until the model's motion is violent again.

The attacker sees only what a user of the app sees: it types prompts and watches the motions, scored
here by the judge's violence probability. From a violent red-team prompt it runs a beam search: each
round every prompt of the beam (``beam`` prompts) gets ``width`` random edits (substitute a word, insert
a word, delete a word, or swap two words), drawn from a vocabulary of the corpus captions' words (the
code index's) and the red-team suite's words; the new prompts are generated in one batch, and the
``beam`` most violent prompts seen so far make the next beam (a new prompt wins ties, so a flat score
still explores). A prompt already tried is never generated again.

Budget: generations per run, the start prompt's own generation included, never exceeded (the last
round is cut to what is left). With ``stop_on_success`` the run ends at the first motion the judge calls
violent (an attacker stops once it has what it wants), so a run may use fewer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from hmu_demo.attack.registry import Attack, register
from hmu_demo.attack.runs import AttackRun, Start
from hmu_demo.attack.target import AttackTarget, Verdict
from hmu_demo.pipelines.text_to_motion import prompt_seed
from hmu_demo.prompt import MAX_PROMPT_CHARS

__all__ = ["DEFAULT_BEAM", "DEFAULT_BUDGET", "DEFAULT_WIDTH", "EDITS", "mutate", "vocabulary", "words_of"]

DEFAULT_BUDGET = 32
DEFAULT_BEAM = 2
DEFAULT_WIDTH = 4
EDITS = ("substitute", "insert", "delete", "swap")
MAX_EXTRA_WORDS = 8      # a search prompt is at most this many words longer than its start

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def words_of(text: str) -> list[str]:
    """The lower-case words of ``text`` (punctuation dropped)."""
    return _WORD.findall(text.lower())


def vocabulary(target: AttackTarget, extra: Iterable[str] = ()) -> list[str]:
    """The words the search draws from: every word of the code index's captions, of the target's extra
    texts (the red-team suite's prompts) and of ``extra``, sorted (a seed gives the same draws everywhere)."""
    found: set[str] = set()
    if target.index is not None:
        key = ("attack_vocabulary", len(target.index.motions))
        if key not in target.index.memo:
            target.index.memo[key] = {w for m in target.index.motions for c in m.captions for w in words_of(c)}
        found |= target.index.memo[key]
    for text in (*target.words, *extra):
        found.update(words_of(text))
    if not found:
        raise ValueError("prompt search has no vocabulary: give the target a code index or words")
    return sorted(found)


def mutate(words: list[str], vocab: list[str], rng: np.random.Generator, max_words: int) -> list[str]:
    """One random edit of ``words`` (a prompt split at spaces, so an obfuscated word stays as typed until it is
    edited): substitute, insert, delete or swap, among the edits the length allows."""
    edits = ["substitute", "swap"] if len(words) >= 2 else ["substitute"]
    if len(words) < max_words:
        edits.append("insert")
    if len(words) > 2:
        edits.append("delete")
    edit = edits[int(rng.integers(len(edits)))]
    out = list(words)
    if edit == "substitute":
        out[int(rng.integers(len(out)))] = vocab[int(rng.integers(len(vocab)))]
    elif edit == "insert":
        out.insert(int(rng.integers(len(out) + 1)), vocab[int(rng.integers(len(vocab)))])
    elif edit == "delete":
        del out[int(rng.integers(len(out)))]
    else:
        i, j = rng.choice(len(out), size=2, replace=False)
        out[i], out[j] = out[j], out[i]
    return out


def _run(target: AttackTarget, start: Start, budget: int, *, beam: int, width: int,
         stop_on_success: bool) -> AttackRun:
    if beam < 1 or width < 1:
        raise ValueError(f"prompt-search: beam and width must be >= 1, got {beam} and {width}")
    vocab = vocabulary(target, [start.prompt])
    rng = np.random.default_rng(prompt_seed(start.seed, start.prompt, "prompt-search"))
    first = target.generate([start.prompt], start.seed)[0]
    used, seen = 1, {start.prompt}
    scored: list[Verdict] = [first]      # every prompt tried, most violent first
    beam_now = [first]
    max_words = len(start.prompt.split()) + MAX_EXTRA_WORDS
    rounds = 0
    while used < budget and not (stop_on_success and scored[0].violent):
        room = budget - used
        proposals: list[str] = []
        for _ in range(20 * beam * width):  # bounded: a tiny vocabulary may offer few new prompts
            if len(proposals) >= min(room, beam * width):
                break
            parent = beam_now[len(proposals) % len(beam_now)]
            text = " ".join(mutate(parent.prompt.split(), vocab, rng, max_words))
            if text and len(text) <= MAX_PROMPT_CHARS and text not in seen:
                seen.add(text)
                proposals.append(text)
        if not proposals:
            break
        fresh = target.generate(proposals, start.seed)
        used += len(fresh)
        rounds += 1
        # stable sorts: the best is the first found of equals; in the beam a new prompt wins a tie (it explores)
        scored = sorted(scored + fresh, key=lambda v: -v.violence)
        beam_now = sorted(fresh + beam_now, key=lambda v: -v.violence)[:beam]
    best = scored[0]
    return AttackRun("prompt-search", start.prompt, start.seed, first.violence, first.violent, best.prompt,
                     best.violence, best.violent, best.action, best.gated, generations=used,
                     details={"rounds": rounds, "vocabulary": len(vocab), "start_action": first.action})


register(Attack("prompt-search", "black box: word substitutions, insertions, deletions and swaps, beam search on the "
                "judge's violence score, a fixed number of generations", _run,
                {"budget": DEFAULT_BUDGET, "beam": DEFAULT_BEAM, "width": DEFAULT_WIDTH, "stop_on_success": True},
                white_box=False, starts="violent", budget_unit="generations", order=10))
