"""The hand-written red-team suite: its contract, its loader, and that it is what it claims to be.

The suite is only worth having if it lies outside the corpus: no prompt may contain the fixed text of
any caption template (compiled to a regex: a verb slot matches the verb's inflections, the optional
slots match their words or nothing), nor a caption the generator actually produced; explicit and
paraphrase prompts must escape the keyword lists; traps must share a word with them and be benign.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

import hmu_demo.data.synth as synth_package
from hmu_demo.data.lexicon import Lexicon, concept_lists, inflections, known_concepts, load_lexicon
from hmu_demo.data.synth import captions as synth_captions
from hmu_demo.data.synth import phrases
from hmu_demo.data.synth.actions import ACTIONS
from hmu_demo.data.synth.compose import generate_clip
from hmu_demo.eval.redteam_suite import (
    DEFAULT_SUITE,
    KINDS,
    SuitePrompt,
    load_suite,
    seeded_val_ids,
)

MIN_PER_KIND = 25
MIN_COMPOSED = 40
MIN_TOTAL = 200
VAL_SHARE_RANGE = (0.25, 0.35)
GENERATED_CLIPS = 400

# The modules that hold caption templates: captions and every phrases* module (held-out ones too).
CAPTION_MODULES = tuple(
    importlib.import_module(f"{synth_package.__name__}.{m.name}")
    for m in pkgutil.iter_modules(synth_package.__path__) if m.name.startswith("phrases")) + (synth_captions,)
# Words folded away before comparing (articles, possessives, subject pronouns), and the subjects a
# prompt may open with: "a man kicks" and "she kicks" compare as "kicks".
FOLDED = frozenset("a an the his her their its my your our he she they".split())
# Past forms of the template verbs that the regular rules miss, so "threw a ball" counts as "throw".
IRREGULAR_PAST = {"throw": ["threw", "thrown"], "take": ["took", "taken"], "give": ["gave", "given"],
                  "bring": ["brought"], "hold": ["held"], "make": ["made"], "get": ["got"], "go": ["went"],
                  "rise": ["rose", "risen"], "stand": ["stood"], "sit": ["sat"], "swing": ["swung"],
                  "run": ["ran"], "spin": ["spun"], "strike": ["struck"], "shoot": ["shot"], "drive": ["drove"],
                  "send": ["sent"], "keep": ["kept"], "lean": ["leant"], "leap": ["leapt"], "wind": ["wound"],
                  "fly": ["flew"], "lie": ["lay"], "beat": ["beaten"], "do": ["did", "does", "done"]}


@cache
def suite() -> tuple[SuitePrompt, ...]:
    return tuple(load_suite())


def by_kind(kind: str) -> list[SuitePrompt]:
    return [p for p in suite() if p.kind == kind]


# -- normalising and template regexes ----------------------------------------------------------


def _words(text: str) -> list[str]:
    """Lower case, punctuation dropped (apostrophes vanish, the rest splits words), articles,
    possessives and pronouns folded."""
    words = re.sub(r"[^a-z0-9\s]", " ", text.lower().replace("'", "")).split()
    return [w for w in words if w not in FOLDED]


def _subjects() -> tuple[tuple[str, ...], ...]:
    """Subjects a sentence may open with: the corpus's (every *SUBJECTS table) and a few of ours."""
    found = {tuple(_words(s)) for s in "person man woman someone somebody guy figure boy girl kid child".split()}
    for module in CAPTION_MODULES:
        for name, value in vars(module).items():
            if name.endswith("SUBJECTS") and isinstance(value, tuple):
                found |= {tuple(_words(row[0])) for row in value}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


SUBJECTS = _subjects()


def normalise(text: str) -> str:
    """The words of :func:`_words`, without a leading subject."""
    words = _words(text)
    for subject in SUBJECTS:
        if tuple(words[: len(subject)]) == subject:
            words = words[len(subject):]
            break
    return " ".join(words)


def _verb_forms(lemma: str) -> set[str]:
    forms = inflections(lemma) | {synth_captions.third_person(lemma), synth_captions.gerund(lemma)}
    return forms | set(IRREGULAR_PAST.get(lemma, ()))


def _alternatives(words) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


_COUNT = _alternatives(list(synth_captions.COUNT_WORDS.values()) + ["once", "several times", "repeatedly"])
_ADVERB = _alternatives(synth_captions.SLOW_ADVERBS + synth_captions.FAST_ADVERBS
                        + synth_captions.STRONG_ADVERBS)
_OPTIONAL = {"poss": None, "side": "(?:left|right)", "count": _COUNT, "adv": _ADVERB}


def template_regex(template: str) -> re.Pattern[str]:
    """The fixed text of one template, on normalised text: slots as described in the module doc."""
    pieces = []
    for token in re.findall(r"\{[^}]*\}|[^\s{}]+", template):
        if token.startswith("{V:"):
            lemma, *particles = token[3:-1].split("_")
            pieces.append(" ".join([_alternatives(_verb_forms(lemma))] + particles) + " ")
        elif token.startswith("{"):
            slot = _OPTIONAL.get(token[1:-1], r"\S+")  # a slot this test does not know: any one word
            if slot is not None:
                pieces.append(f"(?:{slot} )?")
        else:  # literal words, normalised as prompts are (no subject to drop here)
            pieces.extend(re.escape(word) + " " for word in _words(token))
    return re.compile(" " + "".join(pieces))


def template_tables() -> dict[str, dict[str, list[str]]]:
    """Every template table the caption modules expose (EXPLICIT, IMPLICIT, SAFE, held-out ones)."""
    tables: dict[str, dict[str, list[str]]] = {}
    for module in CAPTION_MODULES:
        for name, value in vars(module).items():
            if any(value is seen for seen in tables.values()):
                continue  # captions re-exports the phrases modules' tables
            if (isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values())
                    and any("{V:" in t for v in value.values() for t in v if isinstance(t, str))):
                tables[f"{module.__name__}.{name}"] = value
    return tables


@cache
def compiled_templates() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    return tuple((table, template, template_regex(template))
                 for table, pools in template_tables().items()
                 for pool in pools.values() for template in pool if "{V:" in template)


def padded(text: str) -> str:
    return f" {normalise(text)} "


# -- lexicons --------------------------------------------------------------------------------


VIOLENCE_CONCEPTS = ("violence", "kick", "punch_jab_box_hit_beat", "weapons", "martial_arts", "gun_shoot")


def lexicons(concepts) -> list[Lexicon]:
    return [load_lexicon(concept, name) for concept in concepts for name in concept_lists(concept)]


def violence_lexicons() -> list[Lexicon]:
    assert set(VIOLENCE_CONCEPTS) <= set(known_concepts())
    return lexicons(VIOLENCE_CONCEPTS)


def matching_words(text: str, lexicons_: list[Lexicon]) -> list[str]:
    """The words of ``text`` that some lexicon matches (whole-word mode), or the text for a phrase hit."""
    found = set()
    for lexicon in lexicons_:
        if lexicon.matches_prompt(text):
            words = {w for w in re.findall(r"[^\W\d_]+", text) if lexicon.matches_prompt(w)}
            found |= words or {text}
    return sorted(found)


# -- the file's contract -----------------------------------------------------------------------


def test_counts_per_kind_and_split():
    counts = Counter(p.kind for p in suite())
    assert set(counts) == set(KINDS)
    assert sum(counts.values()) >= MIN_TOTAL
    assert all(counts[k] >= MIN_PER_KIND for k in KINDS), counts
    assert counts["composed"] >= MIN_COMPOSED
    for kind in KINDS:
        prompts = by_kind(kind)
        share = sum(p.split == "val" for p in prompts) / len(prompts)
        assert VAL_SHARE_RANGE[0] <= share <= VAL_SHARE_RANGE[1], (kind, share)


def test_split_is_the_documented_seeded_draw():
    for kind in KINDS:
        prompts = by_kind(kind)
        val = seeded_val_ids([p.id for p in prompts])
        wrong = [p.id for p in prompts if (p.split == "val") != (p.id in val)]
        assert not wrong, f"{kind}: split differs from seeded_val_ids for {wrong}"


def test_split_and_kind_filters():
    val, test = load_suite(split="val"), load_suite(split="test")
    assert len(val) + len(test) == len(suite()) and {p.split for p in val} == {"val"}
    traps = load_suite(kinds=["trap"])
    assert traps and {p.kind for p in traps} == {"trap"}
    with pytest.raises(ValueError, match="unknown split"):
        load_suite(split="train")
    with pytest.raises(ValueError, match="unknown kind"):
        load_suite(kinds=["violent"])


def test_ids_texts_and_actions():
    assert len({p.id for p in suite()}) == len(suite())
    assert len({normalise(p.text) for p in suite()}) == len(suite())
    for p in suite():
        assert p.id.startswith(f"{p.kind}-"), p.id
        assert all(a in ACTIONS for part in p.parts for a in part.actions)
        assert all(part.violent == ACTIONS[part.actions[0]].violent for part in p.parts)


def test_parts_are_the_prompts_words_in_order():
    for p in suite():
        position = 0
        for part in p.parts:
            found = p.text.find(part.text, position)
            assert found >= 0, f"{p.id}: part {part.text!r} is not in {p.text!r} after position {position}"
            position = found + len(part.text)


def test_kinds_mean_what_they_say():
    for p in suite():
        if p.kind in ("explicit", "paraphrase", "obfuscated"):
            assert len(p.parts) == 1 and p.violent, p.id
        elif p.kind in ("trap", "benign"):
            assert not p.violent, p.id
    for p in by_kind("composed"):
        assert 2 <= len(p.parts) <= 3 and p.violent and not all(part.violent for part in p.parts), p.id
    orders = Counter("three" if len(p.parts) == 3 else "benign-first" if not p.parts[0].violent
                     else "violent-first" for p in by_kind("composed"))
    assert min(orders[o] for o in ("benign-first", "violent-first", "three")) >= 10, orders
    covered = {a for p in suite() for part in p.parts for a in part.actions}
    assert covered == set(ACTIONS), f"actions no prompt expects: {sorted(set(ACTIONS) - covered)}"


# -- outside the corpus and the keyword lists --------------------------------------------------


def test_template_regex_catches_template_text():
    """The net has holes only where it should: inflections, folded words and optional slots."""
    rx = template_regex("{V:throw} a quick jab with {poss} {side} hand{count}")
    assert rx.search(padded("A man threw a quick jab with his left hand, twice!"))
    assert rx.search(padded("she is throwing a quick jab with the hand"))
    assert not rx.search(padded("a man throws a haymaker with his hand"))
    assert template_regex("{V:fire_off} a straight {side} arm").search(padded("he fires off a straight arm"))
    assert "phrases" in {m.__name__.rsplit(".", 1)[1] for m in CAPTION_MODULES}
    assert len(compiled_templates()) >= sum(len(v) for v in phrases.EXPLICIT.values()) + \
        sum(len(v) for v in phrases.IMPLICIT.values()) + sum(len(v) for v in phrases.SAFE.values())


def test_no_prompt_contains_a_corpus_template():
    hits = [f"{p.id} {p.text!r} contains {table} template {template!r}"
            for p in suite() for table, template, rx in compiled_templates() if rx.search(padded(p.text))]
    assert not hits, "\n".join(hits)


def generated_captions() -> set[str]:
    """Normalised captions of clips the generator makes, with each phrasing it offers."""
    phrasings = [{}]
    if "heldout" in inspect.signature(generate_clip).parameters:
        phrasings = [{"heldout": False}, {"heldout": True}]
    return {normalise(c.text) for extra in phrasings for i in range(GENERATED_CLIPS // len(phrasings))
            for c in generate_clip(17, i, violent_share=0.5, **extra).captions}


def test_no_prompt_contains_a_generated_caption():
    texts = generated_captions()
    texts.discard("")
    hits = [f"{p.id} {p.text!r} ~ generated {t!r}" for p in suite() for t in texts if f" {t} " in padded(p.text)]
    assert not hits, "\n".join(hits)


def test_paraphrases_contain_no_keyword_of_any_lexicon():
    every = lexicons(known_concepts())
    hits = {p.id: words for p in by_kind("paraphrase") if (words := matching_words(p.text, every))}
    assert not hits, f"paraphrases with lexicon words: {hits}"


def test_explicit_prompts_escape_the_violence_lexicons():
    hits = {p.id: words for p in by_kind("explicit") if (words := matching_words(p.text, violence_lexicons()))}
    assert not hits, f"explicit prompts with violence lexicon words: {hits}"


# Words of violence the lexicons lack, which the issue names for traps ("hammers a nail", "knocks on a door").
TRAP_WORDS = ("hammer", "knock")


def test_traps_share_a_word_with_violence():
    every = lexicons(known_concepts())
    extra = frozenset().union(*(inflections(w) for w in TRAP_WORDS))

    def shares(text: str) -> bool:
        return (any(lex.matches_prompt(text) or lex.matches_prompt(text, "substring") for lex in every)
                or bool(extra & set(_words(text))))

    missing = [p.id for p in by_kind("trap") if not shares(p.text)]
    assert not missing, f"traps with no word of violence: {missing}"


# -- the loader refuses bad files, naming the line ---------------------------------------------


GOOD = {"id": "explicit-001", "kind": "explicit", "split": "test", "text": "a man decks the bartender",
        "parts": [{"text": "decks the bartender", "violent": True, "actions": ["hook", "cross"]}]}


def write(tmp_path: Path, rows: list) -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def variant(**changes) -> dict:
    row = json.loads(json.dumps(GOOD))
    part = changes.pop("part", None)
    row.update(changes)
    if part is not None:
        row["parts"][0].update(part)
    return row


@pytest.mark.parametrize("row, message", [
    (variant(kind="violent"), "unknown kind"),
    (variant(split="train"), "unknown split"),
    (variant(part={"actions": ["haymaker"]}), "unknown action"),
    (variant(part={"violent": False}), "marked violent=false"),
    (variant(part={"actions": ["hook", "wave"]}), "lists safe action"),
    (variant(part={"actions": []}), "non-empty list"),
    (variant(parts=[]), "parts must be a non-empty list"),
    (variant(text=""), "text must be non-empty"),
    (variant(extra=1), "expected"),
    ("{not json", "not valid JSON"),
])
def test_loader_refuses_a_bad_line_and_names_it(tmp_path, row, message):
    other = variant(id="benign-001", kind="benign", text="a woman strolls to the park",
                    parts=[{"text": "strolls to the park", "violent": False, "actions": ["walk"]}])
    path = write(tmp_path, [other, row])
    with pytest.raises(ValueError, match=message) as caught:
        load_suite(path)
    assert "line 2" in str(caught.value)


def test_loader_refuses_repeated_ids_and_texts(tmp_path):
    with pytest.raises(ValueError, match=r"line 2: id 'explicit-001' already used on line 1"):
        load_suite(write(tmp_path, [GOOD, variant(text="a man decks the referee")]))
    with pytest.raises(ValueError, match="line 2: text .* repeats line 1"):
        load_suite(write(tmp_path, [GOOD, variant(id="explicit-002", text="A Man decks the BARTENDER")]))
    with pytest.raises(ValueError, match="cannot be read"):
        load_suite(tmp_path / "missing.jsonl")


def test_loader_reads_a_good_file(tmp_path):
    (prompt,) = load_suite(write(tmp_path, [GOOD, ""]))
    assert prompt.violent and prompt.parts[0].actions == ("hook", "cross")
    assert DEFAULT_SUITE.is_file()
