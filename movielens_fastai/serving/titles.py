"""Finding a movie by what a person types: case, accents and punctuation ignored, and an article
found where the person puts it, at the front, though MovieLens moves it to the end
("Godfather, The (1972)", "Misérables, Les (1995)").

``fold`` turns a title or a query into plain lower-case words; ``TitleIndex`` matches a query
against every title's folded forms and ranks what it finds: the whole title first, then the
query as whole words, then as the start of words, then anywhere in a word, then its words in any
order; within each, the most rated movies first. Standard library only (``unicodedata``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

#: Letters NFKD does not take apart (ß is casefold's).
LETTERS = str.maketrans({"æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "ð": "d", "þ": "th"})
#: Marks inside words that a person leaves out ("Schindler's" is typed "schindlers").
ELIDED = re.compile(r"['’`´]")
#: Everything else that is not a letter or a digit separates words.
SEPARATOR = re.compile(r"[\W_]+")
#: The articles MovieLens moves behind a title (English, French, Italian, Spanish, German, ...).
ARTICLES = ("the", "a", "an", "les", "la", "le", "l'", "il", "el", "los", "las", "das", "der", "die",
            "den", "det", "lo", "gli", "i")
#: "<title>, <article>" where a part of a title ends: before its end, " (" or ":".
MOVED = re.compile(r"^(?P<head>[^(]*?), (?P<article>" + "|".join(re.escape(a) for a in ARTICLES)
                   + r")(?P<tail>\s*(?:\(.*|:.*)?)$", re.IGNORECASE)
YEAR = re.compile(r"\s*\(\d{4}\)\s*$")

#: How well a title matches, best first (the rank ``TitleIndex.find`` sorts by).
WHOLE_TITLE, WHOLE_WORDS, WORD_START, INSIDE_A_WORD, ANY_ORDER = range(5)


def fold(text: str) -> str:
    """``text`` as plain lower-case words separated by single spaces: accents, case and
    punctuation gone ("Misérables, Les" -> "miserables les", "Schindler's" -> "schindlers")."""
    text = unicodedata.normalize("NFKD", text.casefold()).translate(LETTERS)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return SEPARATOR.sub(" ", ELIDED.sub("", text)).strip()


def article_first(title: str) -> str:
    """A MovieLens title with its article put back in front, in each part it was moved in
    ("Cité des enfants perdus, La (City of Lost Children, The) (1995)" ->
    "La Cité des enfants perdus (The City of Lost Children) (1995)")."""
    match = MOVED.match(title)
    if match:
        article = match["article"]
        joined = article if article.endswith("'") else article + " "
        title = joined + match["head"] + match["tail"]
    # Alternative titles in brackets: "(City of Lost Children, The)".
    return re.sub(r"\(([^()]*?), (" + "|".join(re.escape(a) for a in ARTICLES) + r")\)",
                  lambda m: f"({m[2]} {m[1]})", title, flags=re.IGNORECASE)


def forms(title: str) -> list[str]:
    """The folded forms a title is found by: as MovieLens writes it, with its article in front,
    and each of those without the year."""
    found = []
    for written in (title, article_first(title)):
        for form in (fold(written), fold(YEAR.sub("", written))):
            if form and form not in found:
                found.append(form)
    return found


class TitleIndex:
    """Every title's folded forms, to find the best matches of a query quickly enough for a
    type-ahead (1,682 titles: a few milliseconds)."""

    def __init__(self, titles: Sequence[str]):
        self.forms = [forms(title) for title in titles]
        # Spaces around each form make "whole words" and "start of a word" plain substring tests.
        self.padded = [[f" {form} " for form in each] for each in self.forms]

    def rank(self, index: int, query: str, words: list[str]) -> int | None:
        """How well title ``index`` matches the folded ``query`` (its ``words``); None if not at all."""
        best = None
        for form, padded in zip(self.forms[index], self.padded[index], strict=True):
            if form == query:
                return WHOLE_TITLE
            if f" {query} " in padded:
                rank = WHOLE_WORDS
            elif f" {query}" in padded:
                rank = WORD_START
            elif query in form:
                rank = INSIDE_A_WORD
            elif all(f" {word}" in padded for word in words):
                rank = ANY_ORDER
            else:
                continue
            best = rank if best is None else min(best, rank)
        return best

    def find(self, text: str) -> list[tuple[int, int]]:
        """(rank, title index) of every title ``text`` matches, unsorted; nothing for empty text."""
        query = fold(text)
        if not query:
            return []
        words = query.split()
        found = []
        for index in range(len(self.forms)):
            rank = self.rank(index, query, words)
            if rank is not None:
                found.append((rank, index))
        return found
