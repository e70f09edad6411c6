"""Captions: sentence templates, left/right mirroring and the `word/POS` tagging of HumanML3D text files.

HumanML3D tagged its captions with spaCy: lower-cased, hyphens removed, non-alphabetic tokens dropped, nouns and
verbs replaced by their lemma (except "left"), every kept word written as `word/POS` with a Universal POS tag.
spaCy models cannot be downloaded here, so this is a small deterministic tagger: a lexicon that covers the
generated captions and everyday motion vocabulary, with suffix and context rules for the words it does not know.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from motiongpt.data.layout import Caption

POS_TAGS = ("VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV", "CCONJ", "PART", "SCONJ", "PUNCT")

_CLOSED = {
    "DET": "a an the his her their its this that these those some each every another all no any both either "
           "neither such what which whose my your our",
    "PRON": "he she they it someone somebody something anyone anybody anything everyone everybody everything "
            "them him themself themselves himself herself itself oneself who whom i you we me us one",
    "ADP": "with to in on at from of into onto by for over under across toward towards along through behind "
           "above below like about off upon within without between among against beside near past during after "
           "until via per up",
    "CCONJ": "and or but nor yet",
    "SCONJ": "as while if because before though although whereas since when whenever where so than",
    "AUX": "is are was were be been being am has have had do does did can will would could should may might must",
    "PART": "not",  # "to" before a verb is ADP in HumanML3D's own tags ("appear/VERB to/ADP be/AUX")
    "NUM": "zero one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty "
           "sixty seventy eighty ninety hundred thousand",
    "ADV": "forward forwards backward backwards back again then away ahead down out around straight "
           "diagonally sideways very too also together twice once slightly quickly slowly slow fast "
           "repeatedly continuously briefly steadily still just almost nearly far here there overhead upward "
           "upwards downward downwards inward outward clockwise counterclockwise anticlockwise rather quite "
           "aside along afterwards finally first later often now only even halfway",
}

VERBS = set("""
walk run jog sprint dash step stride strut stomp trudge shuffle drag march pace stroll wander limp sneak tiptoe
hop jump skip leap bounce turn spin twist rotate pivot circle veer drift move go come approach head travel
wave raise lift lower drop hold put place reach extend stretch point gesture beckon guide show direct call shout
yell cheer clap bow bend lean crouch squat kneel sit stand rise get fall trip stumble balance sway rock nod
shake punch kick slash swing strike hit throw catch push pull grab pick swipe chop thrust stab block dodge dance
perform spin twirl sing play answer respond reply greet salute cross fold rub scratch touch tap look glance make
do take keep start stop begin continue finish repeat return back retreat lunge fight box celebrate appear seem
shoot kneel climb crawl roll slide stretch exercise practice warm lie sneak creep squat
drink eat wipe clean open close carry bring use flail flap pump brandish wield mimic pretend imitate act
""".split())

NOUNS = set("""
person man woman human figure character someone body hand hands arm arms leg legs foot feet head shoulder
shoulders knee knees hip hips waist chest back elbow wrist finger fingers fist fists toe toes torso side
step steps way direction pace speed circle turn bow wave kick punch jump dance motion movement manner style
fashion mood spirit posture stance attitude gait stride swagger energy air sword blade weapon stick ball
goodbye hello greeting gesture farewell answer response floor ground air place spot time line path degree
degrees angle left right front rear distance while routine series couple pair rhythm music beat thug punk
giant child kid elder athlete performer musical stage tennis ball racket golf club bat chair table stairs
stair object box cup door wall
""".split())

ADJECTIVES = set("""
left right happy sad angry proud confident unconfident timid shy nervous hesitant masculine feminine manly
girlish childish childlike old elderly aged tired weary exhausted active energetic lively musical theatrical
giant huge heavy lumbering thuggish rough cocky youthful young sprightly normal ordinary regular natural casual
cheerful joyful glum gloomy sorrowful furious irritated haughty dignified graceful elegant playful immature frail
slow fast quick brisk big small large little high low full whole same other several few many much certain
ninety sharp wide upright straight dramatic powerful strong weak gentle soft firm light careful relaxed
""".split())

IRREGULAR = {
    "ran": "run", "running": "run", "went": "go", "gone": "go", "goes": "go", "took": "take", "taken": "take",
    "threw": "throw", "thrown": "throw", "stood": "stand", "sat": "sit", "fell": "fall", "fallen": "fall",
    "swung": "swing", "struck": "strike", "made": "make", "did": "do", "does": "do", "done": "do", "has": "have",
    "had": "have", "knelt": "kneel", "bent": "bend", "held": "hold", "got": "get", "gave": "give", "kept": "keep",
    "began": "begin", "begun": "begin", "brought": "bring", "caught": "catch", "rose": "rise", "risen": "rise",
    "spun": "spin", "came": "come", "leapt": "leap", "feet": "foot", "teeth": "tooth", "men": "man",
    "women": "woman", "children": "child", "people": "person", "strode": "stride", "saw": "see", "seen": "see",
    "put": "put", "hit": "hit", "shook": "shake", "lay": "lie", "led": "lead", "stepped": "step",
}


@dataclass(frozen=True)
class _Word:
    text: str
    pos: str


def _lexicon() -> dict[str, str]:
    table = {}
    for pos, words in _CLOSED.items():
        for word in words.split():
            table.setdefault(word, pos)
    return table


_CLOSED_POS = _lexicon()
_DOUBLED = re.compile(r"([bdgklmnprt])\1$")


def lemma(word: str, pos: str) -> str:
    """Base form of a noun or verb (walks/walking/walked -> walk, hands -> hand); other words are kept."""
    if pos not in ("NOUN", "VERB") or word == "left":
        return word
    if word in IRREGULAR:
        return IRREGULAR[word]
    known = VERBS if pos == "VERB" else NOUNS
    if word in known and not (pos == "NOUN" and word.endswith("s") and word[:-1] in NOUNS):
        return word
    candidates = []
    if word.endswith("ies"):
        candidates.append(word[:-3] + "y")
    if word.endswith("es"):
        candidates.append(word[:-2])
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        candidates.append(word[:-1])
    if pos == "VERB":
        for suffix in ("ing", "ed"):
            if word.endswith(suffix) and len(word) > len(suffix) + 2:
                stem = word[: -len(suffix)]
                candidates += [stem, stem + "e"]
                if _DOUBLED.search(stem):
                    candidates.append(stem[:-1])
                if suffix == "ed" and stem.endswith("i"):
                    candidates.append(stem[:-1] + "y")
    for candidate in candidates:
        if candidate in known:
            return candidate
    return candidates[0] if candidates else word


def _guess(word: str, prev: str | None, nxt: str | None) -> str:
    """POS of one lower-case word from the lexicon, its suffix, the previous word's tag and the next word."""
    if word in _CLOSED_POS and not (word == "one" and prev in ("DET", "ADJ")):
        return _CLOSED_POS[word]
    after_determiner = prev in ("DET", "ADJ", "NUM")
    if word in ("left", "right"):
        if nxt is not None and (nxt in NOUNS or lemma(nxt, "NOUN") in NOUNS):
            return "ADJ"
        return "NOUN" if prev in ("DET", "ADP") else "ADV"
    base_verb = lemma(word, "VERB")
    base_noun = lemma(word, "NOUN")
    is_verb = base_verb in VERBS
    is_noun = base_noun in NOUNS or word in NOUNS
    if word.endswith("ing") and is_verb and not after_determiner:
        return "VERB"
    if is_verb and is_noun:
        if after_determiner or prev == "ADP":
            return "NOUN"
        return "VERB"
    if is_verb:
        return "VERB"
    if is_noun:
        return "NOUN"
    if word in ADJECTIVES:
        return "ADJ"
    if word.endswith("ly"):
        return "ADV"
    if word.endswith("ing") or word.endswith("ed"):
        return "VERB"
    if word.endswith(("ful", "ous", "ive", "able", "ible", "ish", "less", "ic", "al")):
        return "ADJ"
    if word.endswith("s") and prev in ("NOUN", "PRON") and not after_determiner:
        return "VERB"
    return "NOUN"


def tag(text: str) -> list[str]:
    """`word/POS` tokens of a caption as HumanML3D wrote them (lemmas for nouns and verbs, letters only)."""
    words = re.findall(r"[a-z]+|[^\sa-z]+", text.lower().replace("-", ""))
    tokens, prev = [], None
    for i, word in enumerate(words):
        if not word.isalpha():  # punctuation and numbers are dropped but still end a phrase
            prev = None
            continue
        nxt = words[i + 1] if i + 1 < len(words) and words[i + 1].isalpha() else None
        pos = _guess(word, prev, nxt)
        tokens.append(f"{lemma(word, pos)}/{pos}")
        prev = pos
    return tokens


def make_caption(text: str, start: float = 0.0, end: float = 0.0) -> Caption:
    """A caption with its tokens; start/end in seconds (0, 0 = the whole motion)."""
    text = " ".join(text.replace("#", " ").split())
    return Caption(text, tag(text), float(start), float(end))


_MIRROR_WORDS = {"left": "right", "right": "left", "clockwise": "counterclockwise",
                 "counterclockwise": "clockwise", "anticlockwise": "clockwise", "counter-clockwise": "clockwise",
                 "anti-clockwise": "clockwise", "leftward": "rightward", "rightward": "leftward",
                 "leftwards": "rightwards", "rightwards": "leftwards"}
_MIRROR_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _MIRROR_WORDS), key=len, reverse=True)) + r")\b",
                        re.IGNORECASE)


def mirror_text(text: str) -> str:
    """The caption of the left/right-mirrored motion: left<->right, clockwise<->counterclockwise."""

    def swap(match: re.Match) -> str:
        word = match.group(0)
        out = _MIRROR_WORDS[word.lower()]
        return out.capitalize() if word[0].isupper() else out

    return _MIRROR_RE.sub(swap, text)


def mirror_caption(caption: Caption) -> Caption:
    return make_caption(mirror_text(caption.text), caption.start, caption.end)


# --- sentence templates -----------------------------------------------------------------------------------------

_ES_ENDINGS = ("s", "sh", "ch", "x", "z", "o")
_DOUBLE_FINAL = {"run", "jog", "step", "strut", "drag", "skip", "hop", "stop", "swim", "grab", "chop", "tap", "nod",
                 "trip", "sit", "hit", "spin", "get", "put", "clap", "begin", "wag", "stab", "squat", "set"}


def _inflect_verbs(phrase: str, inflect) -> str:
    """Apply `inflect` to the phrase's first word and to every verb coordinated after "and" or "then"."""
    words = phrase.split(" ")
    out = [inflect(words[0])]
    for prev, word in zip(words, words[1:]):
        coordinated = prev.rstrip(",") in ("and", "then") and word in VERBS
        out.append(inflect(word) if coordinated else word)
    return " ".join(out)


def _third_person_verb(verb: str) -> str:
    if verb in ("do", "go"):
        return verb + "es"
    if verb == "have":
        return "has"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    if verb.endswith(_ES_ENDINGS):
        return verb + "es"
    return verb + "s"


def _gerund_verb(verb: str) -> str:
    if verb in _DOUBLE_FINAL:
        return verb + verb[-1] + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith("ee") and verb != "be":
        return verb[:-1] + "ing"
    return verb + "ing"


def third_person(phrase: str) -> str:
    """'walk forward and turn left' -> 'walks forward and turns left' (coordinated verbs agree too)."""
    return _inflect_verbs(phrase, _third_person_verb)


def gerund(phrase: str) -> str:
    """'walk forward and turn left' -> 'walking forward and turning left'."""
    return _inflect_verbs(phrase, _gerund_verb)


@dataclass(frozen=True)
class Style:
    """How a style is said: adjectives for the mover ("tired"), adverbials for the motion ("wearily")."""

    adjectives: tuple[str, ...] = ()
    adverbs: tuple[str, ...] = ()


SUBJECTS = ("a person", "someone", "a man", "a woman", "the person", "a figure")
_PLAIN = ("{S} {v}.", "{S} {v}.", "{S} is {g}.")
_WITH_ADJ = ("{A} {N} {v}.", "{A} {N} is {g}.", "{S} who looks {a} {v}.", "{S} {v}, looking {a}.")
_WITH_ADV = ("{S} {v} {d}.", "{D}, {s} {v}.", "{S} is {g} {d}.")


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def compose(actions: list[str], style: Style, seed: str, count: int = 3) -> list[str]:
    """`count` distinct captions for one motion: verb phrases (base form) x style, templates varied.

    The choice is seeded by `seed` (e.g. the clip name), so the same clip always gets the same captions.
    """
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    kinds = ["adj", "adv", "adv" if style.adverbs else "plain", "adj" if style.adjectives else "plain", "plain"]
    if not style.adjectives:
        kinds = [k if k != "adj" else "plain" for k in kinds]
    if not style.adverbs:
        kinds = [k if k != "adv" else "plain" for k in kinds]
    out: list[str] = []
    for attempt in range(count * 20):
        kind = kinds[attempt % len(kinds)] if attempt < len(kinds) else kinds[int(rng.integers(len(kinds)))]
        action = actions[int(rng.integers(len(actions)))]
        subject = SUBJECTS[int(rng.integers(len(SUBJECTS)))]
        fields = {"v": third_person(action), "g": gerund(action), "S": subject, "s": subject}
        if kind == "adj":
            template = _WITH_ADJ[int(rng.integers(len(_WITH_ADJ)))]
            adjective = style.adjectives[int(rng.integers(len(style.adjectives)))]
            noun = subject.split(" ", 1)[1] if subject != "someone" else "person"
            fields.update(a=adjective, A=_article(adjective), N=noun)
        elif kind == "adv":
            template = _WITH_ADV[int(rng.integers(len(_WITH_ADV)))]
            adverb = style.adverbs[int(rng.integers(len(style.adverbs)))]
            fields.update(d=adverb, D=adverb)
        else:
            template = _PLAIN[int(rng.integers(len(_PLAIN)))]
        text = template.format(**fields)
        if text.lower() not in {t.lower() for t in out}:
            out.append(text)
        if len(out) == count:
            break
    return out
