"""Captions for SynthMotion clips: varied sentences from phrase templates, with word/POS tokens.

Each clip gets several captions, like HumanML3D's several annotators: different subjects,
synonyms, with or without the side, counts and adverbs, and compositions joined by "then",
"and", "before", "after that". Tokens follow HumanML3D's convention (lemmatised nouns and verbs,
"left" kept, non-alphabetic tokens dropped); the vocabulary is closed, so a small tagging table
replaces spaCy, and a test checks that every generated word is in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from hmu_demo.data.captions import Caption
from hmu_demo.data.synth.phrases import EXPLICIT, IMPLICIT, IRREGULAR_GERUND, SAFE
from hmu_demo.data.synth.phrases_heldout import (HELDOUT_DOUBLE_FINAL, HELDOUT_EXPLICIT, HELDOUT_EXTRA_VERBS,
                                                 HELDOUT_IMPLICIT, HELDOUT_SAFE, HELDOUT_SUBJECTS, HELDOUT_TAGS)

SUBJECTS: tuple[tuple[str, str, str], ...] = (
    # (subject, possessive, pronoun for a second clause)
    ("a person", "their", "they"), ("a person", "his", "he"), ("a man", "his", "he"), ("the man", "his", "he"),
    ("someone", "their", "they"), ("a woman", "her", "she"), ("the woman", "her", "she"),
    ("the person", "his", "he"), ("a figure", "their", "they"), ("a guy", "his", "he"),
)
DOUBLE_FINAL = {"jab", "stab", "hit", "grab", "step", "dip", "hop", "slam", "spin", "jog", "trot", "sit", "get",
                "put", "cut", "rip", "drop", "chop", "skip", "stop", "drag", "tap", "flip", "nod", "plan", "trip",
                *HELDOUT_DOUBLE_FINAL}
VERB_MARK = "\u00a7"  # marks a word produced by a verb slot until the caption is tokenised
COUNT_WORDS = {2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}
SLOW_ADVERBS = ("slowly", "gently", "carefully", "calmly")
FAST_ADVERBS = ("quickly", "rapidly", "fast", "briskly")
STRONG_ADVERBS = ("hard", "powerfully", "forcefully", "with force")


def third_person(verb: str) -> str:
    if verb == "have":
        return "has"
    if re.search(r"(s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def gerund(verb: str) -> str:
    if verb in IRREGULAR_GERUND:
        return IRREGULAR_GERUND[verb]
    if verb in DOUBLE_FINAL:
        return verb + verb[-1] + "ing"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


def conjugate(template: str, form: str) -> tuple[str, list[str]]:
    """Fill verb slots with ``form`` ("s" or "ing"); return the text and the verb lemmas used."""
    lemmas: list[str] = []

    def fill(match: re.Match) -> str:
        words = match.group(1).split("_")
        lemmas.append(words[0])
        head = third_person(words[0]) if form == "s" else gerund(words[0])
        return " ".join([VERB_MARK + head] + words[1:])

    return re.sub(r"\{V:([a-z_]+)\}", fill, template), lemmas


@dataclass(frozen=True)
class SegmentWords:
    """How one action segment may be described."""

    action: str
    violent: bool
    side: str | None
    count: int
    speed: float
    amplitude: float
    direction: str = "forward"


def phrase_pool(segment: SegmentWords, implicit: bool, heldout: bool = False) -> list[str]:
    """The templates that may describe ``segment``: the training pool, or the held-out one (val/test)."""
    explicit, implicit_pool, safe = ((HELDOUT_EXPLICIT, HELDOUT_IMPLICIT, HELDOUT_SAFE) if heldout
                                     else (EXPLICIT, IMPLICIT, SAFE))
    if segment.violent:
        return implicit_pool[segment.action] if implicit else explicit[segment.action]
    key = f"walk:{segment.direction}" if segment.action == "walk" else segment.action
    return safe[key]


def fill_phrase(template: str, segment: SegmentWords, possessive: str, rng: np.random.Generator,
                form: str) -> tuple[str, list[str]]:
    """One verb phrase for ``segment`` from ``template``."""
    if segment.side and rng.random() < 0.25:
        # Leave the side out where the sentence stays whole without it ("with his hand").
        for article in ("{poss} ", "the ", "a ", "an "):
            template = template.replace(article + "{side} ", article)
    side = segment.side or ""
    count = ""
    if segment.count > 1 and rng.random() < 0.8:
        count = " " + (COUNT_WORDS.get(segment.count, "several times") if rng.random() < 0.85 else "repeatedly")
    elif segment.count == 1 and rng.random() < 0.15:
        count = " once"
    adverb = ""
    if rng.random() < 0.45:
        if segment.speed < 0.9:
            adverb = " " + rng.choice(SLOW_ADVERBS)
        elif segment.speed > 1.12:
            adverb = " " + rng.choice(FAST_ADVERBS)
        elif segment.violent and segment.amplitude > 1.05:
            adverb = " " + rng.choice(STRONG_ADVERBS)
    text = template.replace("{poss}", possessive).replace("{side}", side).replace("{count}", count)
    text = text.replace("{adv}", adverb)
    text, lemmas = conjugate(text, form)
    return re.sub(r"\s+", " ", text).strip(), lemmas


def compose_caption(segments: list[SegmentWords], implicit: bool, rng: np.random.Generator,
                    heldout: bool = False) -> str:
    """A sentence describing ``segments`` in order, with one subject (held-out words and frames if ``heldout``)."""
    subjects = HELDOUT_SUBJECTS if heldout else SUBJECTS
    subject, possessive, pronoun = subjects[rng.integers(len(subjects))]
    phrases_s = []
    phrases_ing = []
    for segment in segments:
        template = rng.choice(phrase_pool(segment, implicit, heldout))
        form_seed = int(rng.integers(1 << 31))
        phrases_s.append(fill_phrase(template, segment, possessive, np.random.default_rng(form_seed), "s")[0])
        phrases_ing.append(fill_phrase(template, segment, possessive, np.random.default_rng(form_seed), "ing")[0])
    if heldout:
        sentence = _heldout_frame(subject, pronoun, phrases_s, phrases_ing, rng)
    elif len(segments) == 1:
        sentence = f"{subject} {phrases_s[0]}"
    else:
        style = rng.integers(5)
        if style == 0:
            sentence = f"{subject} {', then '.join(phrases_s)}"
        elif style == 1:
            sentence = f"{subject} " + " and then ".join(phrases_s)
        elif style == 2 and len(segments) == 2:
            sentence = f"{subject} {phrases_s[0]} before {phrases_ing[1]}"
        elif style == 3:
            sentence = f"{subject} {phrases_s[0]}. after that, {pronoun} " + " and ".join(
                _agree(p, pronoun) for p in phrases_s[1:])
        else:
            sentence = f"{subject} " + ", ".join(phrases_s[:-1]) + f" and {phrases_s[-1]}"
    if rng.random() < 0.6:
        sentence += "."
    return sentence


def _heldout_frame(subject: str, pronoun: str, phrases_s: list[str], phrases_ing: list[str],
                   rng: np.random.Generator) -> str:
    """Sentence frames no training caption uses ("X is kicking", "X begins by ..., and ends by ...")."""
    style = int(rng.integers(3))
    if len(phrases_s) == 1:
        return (f"{subject} is {phrases_ing[0]}", f"in this clip, {subject} {phrases_s[0]}",
                f"{subject} can be seen {phrases_ing[0]}")[style]
    if style == 0:
        middle = "".join(f", continues by {p}" for p in phrases_ing[1:-1])
        return f"{subject} begins by {phrases_ing[0]}{middle} and ends by {phrases_ing[-1]}"
    if style == 1:
        middle = "".join(f"; next, {pronoun} {_agree(p, pronoun)}" for p in phrases_s[1:-1])
        return f"first, {subject} {phrases_s[0]}{middle}; finally, {pronoun} {_agree(phrases_s[-1], pronoun)}"
    return f"{subject} {phrases_s[0]}, followed by " + " and ".join(phrases_ing[1:])


def _agree(phrase: str, pronoun: str) -> str:
    """'they kicks' -> 'they kick': undo the -s of the first verb after a plural pronoun."""
    if pronoun != "they":
        return phrase
    first, _, rest = phrase.partition(" ")
    first = first.lstrip(VERB_MARK)
    if first.endswith("ies"):
        base = first[:-3] + "y"
    elif re.search(r"(ss|sh|ch|x|z|o)es$", first):
        base = first[:-2]
    elif first == "has":
        base = "have"
    else:
        base = first[:-1]
    return f"{VERB_MARK}{base} {rest}".strip()


# ------------------------------------------------------------------ part-of-speech tokens

_TAGS: dict[str, str] = {}
for _tag, _words in {
    "DET": "a an the his her their some both every each this that all another any these those what",
    "PRON": "someone something it them they he she him one theirs anyone us me",
    "ADP": "with at in on into from to toward towards under onto of for off over across behind above below "
           "along like by as through near",
    "SCONJ": "before after while so",
    "CCONJ": "and or but",
    "ADV": "forward backward backwards sideways ahead straight quickly slowly fast hard again back away around "
           "once twice then together still there politely happily curiously excitedly violently lightly softly "
           "idly far diagonally upward downward overhead close rapidly gently carefully calmly briskly powerfully "
           "forcefully repeatedly up down out low high in place times",
    "ADJ": "left right quick wide powerful rising rear short heavy sharp pointed edged big small little deep full "
           "long vertical bent violent whole several few other front tight straight fast sideways support "
           "possible excited overhand diagonal white jumping",
    "NUM": "two three four five six",
    "PART": "to 's not",
    "AUX": "is are",
}.items():
    for _w in _words.split():
        _TAGS.setdefault(_w, _tag)

NOUNS = ("hand hands fist fists arm arms leg legs foot feet knee knees elbow elbows head heads hip hips shoulder "
         "shoulders chin face jaw body belly chest waist nose forehead heel heels shin palm palms side sides "
         "person people man woman guy figure line circle loop steps step stairs staircase flight chair seat "
         "moment ball bag object floor ground air target knife dagger blade sword club gun pistol handgun "
         "weapon stick bat trigger fire jab jabs cross hook hooks uppercut kick kicks strike strikes headbutt "
         "shove punch punches roundhouse karate taekwondo squat squats lunge lunges jack jacks star circles "
         "bow stretch dance music weight applause round hello goodbye hips arc edge point force spot boxes "
         "balance while jog time height way arms motion hop hops jump jumps wave cut aim look push swing")
_PLURALS = {"hands": "hand", "fists": "fist", "arms": "arm", "legs": "leg", "feet": "foot", "knees": "knee",
            "elbows": "elbow", "heads": "head", "hips": "hip", "shoulders": "shoulder", "heels": "heel",
            "palms": "palm", "sides": "side", "people": "person", "steps": "step", "stairs": "stair",
            "jabs": "jab", "hooks": "hook", "kicks": "kick", "strikes": "strike", "punches": "punch",
            "squats": "squat", "lunges": "lunge", "jacks": "jack", "circles": "circle", "boxes": "box", "hops": "hop", "jumps": "jump",
            "times": "time"}
for _w in NOUNS.split():
    _TAGS.setdefault(_w, "NOUN")
for _w, _tag in HELDOUT_TAGS.items():
    _TAGS.setdefault(_w, _tag)


EXTRA_VERBS = {"pick": "pick", "stand": "stand", "turning": "turn", "lying": "lie", "swinging": "swing",
               "rising": "rise", "jolting": "jolt", "slashing": "slash", "spreading": "spread",
               "stretched": "stretch", "held": "hold", "raised": "raise", "flying": "fly", "standing": "stand", "meets": "meet",
               "throwing": "throw", **HELDOUT_EXTRA_VERBS}


def tokenize(marked: str) -> tuple[str, ...]:
    """HumanML3D-style ``word/POS`` tokens of a caption whose verb-slot words carry ``VERB_MARK``."""
    tokens = []
    for raw in re.findall(VERB_MARK + r"?[a-z]+(?:'s)?|'s", marked.lower().replace("-", "")):
        word = raw.lstrip(VERB_MARK)
        word = word[:-2] if word.endswith("'s") and word != "'s" else word
        if word == "'s":
            continue  # non-alphabetic tokens are dropped, as HumanML3D does
        if raw.startswith(VERB_MARK):
            tokens.append(f"{VERB_FORMS[word]}/VERB")
        elif word in _TAGS:
            tag = _TAGS[word]
            lemma = _PLURALS.get(word, word) if tag == "NOUN" else word
            tokens.append(f"{lemma}/{tag}")
        elif word in EXTRA_VERBS:
            tokens.append(f"{EXTRA_VERBS[word]}/VERB")
        else:
            raise KeyError(f"word {word!r} of caption {marked!r} has no part-of-speech entry")
    return tuple(tokens)


def verb_form_table() -> dict[str, str]:
    """Every inflected verb that a verb slot can produce -> its lemma."""
    table: dict[str, str] = {}
    pools = (EXPLICIT, IMPLICIT, SAFE, HELDOUT_EXPLICIT, HELDOUT_IMPLICIT, HELDOUT_SAFE)
    for pool in [templates for table in pools for templates in table.values()]:
        for template in pool:
            for match in re.finditer(r"\{V:([a-z_]+)\}", template):
                lemma = match.group(1).split("_")[0]
                for form in (lemma, third_person(lemma), gerund(lemma)):
                    table[form] = lemma
    return table


VERB_FORMS = verb_form_table()


def make_caption(marked: str, start: float = 0.0, end: float = 0.0) -> Caption:
    """A ``Caption`` (clean text plus tokens) from a composed, verb-marked sentence."""
    return Caption(text=marked.replace(VERB_MARK, ""), tokens=tokenize(marked), start=start, end=end)
