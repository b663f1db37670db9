"""Parse a referring phrase into what grounding needs: noun, colours, place, size, count.

"track the two red cups on the left" -> Phrase(noun="cup", colours=("red",), spatial=("left",), count=2,
plural=True). The grammar is a keyword one (no parser model ships here): command verbs and
articles are dropped, attribute words are picked out wherever they stand, and the remaining words
before the first relation word ("next to", "with", ...) form the category noun. Negation is not
handled ("not the red one" reads as "the red one").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray")
COLOUR_ALIASES = {"grey": "gray", "violet": "purple", "cyan": "blue", "golden": "yellow", "silver": "gray"}

SPATIAL_WORDS = {
    "left": "left", "leftmost": "left",
    "right": "right", "rightmost": "right",
    "top": "top", "upper": "top", "topmost": "top", "uppermost": "top",
    "bottom": "bottom", "lower": "bottom", "bottommost": "bottom", "lowest": "bottom",
    "centre": "centre", "center": "centre", "middle": "centre", "central": "centre",
    "nearest": "nearest", "closest": "nearest", "front": "nearest",
    "farthest": "farthest", "furthest": "farthest", "back": "farthest",
}  # fmt: skip
SPATIAL = ("left", "right", "top", "bottom", "centre", "nearest", "farthest")

SIZE_WORDS = {
    "largest": "largest", "biggest": "largest", "big": "largest", "large": "largest", "huge": "largest",
    "smallest": "smallest", "small": "smallest", "little": "smallest", "tiny": "smallest",
}  # fmt: skip

NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
           "nine": 9, "ten": 10, "both": 2, "pair": 2}  # fmt: skip
ALL_WORDS = {"all", "every", "each", "any"}
ARTICLES = {"a", "an", "the", "this", "that", "single"}
COLOUR_NOUNS = {"orange"}

COMMAND_WORDS = {"track", "find", "segment", "show", "follow", "pick", "grab", "get", "select", "locate",
                 "detect", "highlight", "me", "please", "up", "watch", "mask"}  # fmt: skip
# Words that carry no meaning once attributes are taken out ("the cup on the left side of the table").
FILLER = {"of", "on", "in", "at", "to", "the", "side", "most", "camera", "image", "picture", "frame",
          "view", "scene", "is", "are", "which", "that", "one", "ones", "coloured", "colored", "color",
          "colour", "sized", "size", "and", "object", "objects", "thing", "things", "item", "items", "stuff",
          "there", "here", "those", "these", "some", "other", "dark", "light", "bright", "very", "s"}  # fmt: skip
# A relation to another object starts here; what follows is not the referred object's noun.
RELATIONS = {"next", "near", "beside", "besides", "by", "with", "under", "below", "above", "behind",
             "between", "inside", "from", "holding", "containing", "beneath", "over", "against", "for"}  # fmt: skip

IRREGULAR_PLURALS = {"people": "person", "persons": "person", "mice": "mouse", "knives": "knife",
                     "children": "child", "men": "man", "women": "woman", "teeth": "tooth",
                     "leaves": "leaf", "shelves": "shelf", "loaves": "loaf"}  # fmt: skip
NOT_PLURAL = {"glass", "scissors", "skis", "grass", "bus", "class", "dress", "cactus", "lens", "tennis",
              "chess", "series", "species", "pants", "shorts", "jeans", "gas", "this", "is"}  # fmt: skip


@dataclass(frozen=True)
class Phrase:
    """What a referring phrase asks for.

    ``noun`` is "" when the phrase names no category ("the red one", "all objects on the left").
    ``count`` is the number of objects wanted: 1 for "the cup", 2 for "two cups", 0 for all of
    them ("all cups", "cups").
    """

    text: str
    noun: str
    colours: tuple[str, ...] = ()
    spatial: tuple[str, ...] = ()  # e.g. ("top", "right")
    size: str | None = None
    count: int = 1
    plural: bool = False

    @property
    def wants_all(self) -> bool:
        return self.count == 0


def singular(word: str) -> tuple[str, bool]:
    """(singular form, whether ``word`` was a plural) by English rules and a few exceptions."""
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word], True
    if word in NOT_PLURAL or len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word, False
    if word.endswith("ies"):
        return word[:-3] + "y", True
    if word.endswith(("ches", "shes", "xes", "sses", "zes", "oes")):
        return word[:-2], True
    return word[:-1], True


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+", text.lower().replace("-", " ").replace("'s", " "))


def parse_phrase(text: str) -> Phrase:
    """Parse ``text``; ValueError when it holds no words at all."""
    if not isinstance(text, str):
        raise ValueError(f"phrase must be a string, got {type(text).__name__}")
    words = _tokens(text)
    if not words:
        raise ValueError(f"phrase {text!r} holds no words")
    colours: list[str] = []
    spatial: list[str] = []
    size = None
    count: int | None = None
    rest: list[str] = []
    kept: list[str] = []  # the words before the first relation
    for word in words:
        if word in RELATIONS:
            break
        kept.append(word)
        colour = COLOUR_ALIASES.get(word, word)
        if colour in COLOURS:
            if colour not in colours:
                colours.append(colour)
            rest.append(word)  # may still turn out to be the noun ("the orange")
        elif word in SPATIAL_WORDS:
            if SPATIAL_WORDS[word] not in spatial:
                spatial.append(SPATIAL_WORDS[word])
        elif word in SIZE_WORDS and size is None:
            size = SIZE_WORDS[word]
        elif word in ALL_WORDS:
            count = 0
        elif word in NUMBERS or word.isdigit():
            count = NUMBERS[word] if word in NUMBERS else int(word)
        elif word not in COMMAND_WORDS and word not in FILLER and word not in ARTICLES:
            rest.append(word)
    content = [w for w in rest if COLOUR_ALIASES.get(w, w) not in COLOURS]
    # A colour that also names a thing, last and with no other noun, is the noun ("the orange").
    if not content and rest and rest[-1] in COLOUR_NOUNS and kept and kept[-1] == rest[-1]:
        colours.remove(rest[-1])
        content = [rest[-1]]
    plural = False
    if content:
        head, plural = singular(content[-1])
        content[-1] = head
    # "the red ones", "all objects": a plural noun dropped as filler still makes the phrase plural.
    plural = plural or any(singular(w)[1] and singular(w)[0] in FILLER for w in kept)
    if count is None:
        count = 0 if plural else 1
    plural = plural or count != 1
    return Phrase(
        text=text, noun=" ".join(content), colours=tuple(colours), spatial=tuple(spatial), size=size,
        count=count, plural=plural,
    )
