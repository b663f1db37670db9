"""Phrase parsing: noun, colours, place, size, count and plurals."""
from __future__ import annotations

import pytest

from vos_ros.prompts.phrase import Phrase, parse_phrase, singular


@pytest.mark.parametrize("text, noun, colours, spatial, size, count, plural", [
    ("the red mug", "mug", ("red",), (), None, 1, False),
    ("all cups", "cup", (), (), None, 0, True),
    ("the bottle on the left", "bottle", (), ("left",), None, 1, False),
    ("Track the two red cups on the left!", "cup", ("red",), ("left",), None, 2, True),
    ("the cell phone at the top right", "cell phone", (), ("top", "right"), None, 1, False),
    ("the largest bowl", "bowl", (), (), "largest", 1, False),
    ("the smallest grey box", "box", ("gray",), (), "smallest", 1, False),
    ("the nearest object", "", (), ("nearest",), None, 1, False),
    ("the object farthest from the camera", "", (), ("farthest",), None, 1, False),
    ("the red ones", "", ("red",), (), None, 0, True),
    ("all the red objects", "", ("red",), (), None, 0, True),
    ("bananas", "banana", (), (), None, 0, True),
    ("people", "person", (), (), None, 0, True),
    ("the wine glasses", "wine glass", (), (), None, 0, True),
    ("three knives", "knife", (), (), None, 3, True),
    ("both boxes", "box", (), (), None, 2, True),
    ("the orange", "orange", (), (), None, 1, False),
    ("the orange cup", "cup", ("orange",), (), None, 1, False),
    ("the cup next to the laptop", "cup", (), (), None, 1, False),
    ("the mug in the middle", "mug", (), ("centre",), None, 1, False),
    ("a glass", "glass", (), (), None, 1, False),
    ("the scissors", "scissors", (), (), None, 1, False),
    ("the red and white gelatin box", "gelatin box", ("red", "white"), (), None, 1, False),
    ("4 bottles", "bottle", (), (), None, 4, True),
])
def test_parse(text, noun, colours, spatial, size, count, plural) -> None:
    p = parse_phrase(text)
    assert (p.noun, p.colours, p.spatial, p.size, p.count, p.plural) == (noun, colours, spatial, size, count, plural)
    assert p.text == text
    assert p.wants_all == (count == 0)


@pytest.mark.parametrize("word, expected", [
    ("cups", ("cup", True)), ("boxes", ("box", True)), ("berries", ("berry", True)), ("glasses", ("glass", True)),
    ("mice", ("mouse", True)), ("glass", ("glass", False)), ("bus", ("bus", False)), ("cup", ("cup", False)),
    ("tomatoes", ("tomato", True)), ("brushes", ("brush", True)),
])
def test_singular(word: str, expected: tuple[str, bool]) -> None:
    assert singular(word) == expected


@pytest.mark.parametrize("bad", ["", "   ", "?!", None, 3])
def test_phrases_without_words_are_refused(bad) -> None:
    with pytest.raises(ValueError, match="phrase"):
        parse_phrase(bad)


def test_phrase_is_immutable() -> None:
    p = parse_phrase("the cup")
    assert isinstance(p, Phrase)
    with pytest.raises(AttributeError):
        p.noun = "mug"  # type: ignore[misc]
