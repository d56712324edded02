"""Free-text search words in German and English, reduced to comparable terms.

"schwarzer Regenschirm", "schwarze Schirme" and "black umbrella" must find the same item, so
both the register's text (category, colours, notes) and a query are turned into terms: lower
case, umlauts folded (ä → ae, ß → ss), and each word that names a colour or a category (also
inflected: schwarzer/schwarzes → schwarz; or as the end of a compound: Kinderregenschirm →
schirm) additionally yields the colour's or category's key. An item matches a query when every
query word matches one of the item's terms (as a term or a term's beginning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from service.lost_property.colours import COLOURS, PALETTE
from service.lost_property.taxonomy import Taxonomy
from service.storage.lost_items import index_text

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_ENDINGS = ("es", "er", "en", "em", "e", "n", "s")  # adjective and plural endings, longest first
_COLOUR_PREFIXES = ("dunkel", "hell")
_COLOUR_WORDS = {
    "silbern": "silber", "lila": "violett", "purpur": "violett", "rosa": "pink",
    "gray": "grau", "violet": "violett", "navy": "blau", "golden": "gelb", "gold": "gelb",
}  # fmt: skip
_MIN_COMPOUND = 4  # a category word this long may end a compound noun


def fold(text: str) -> str:
    return text.lower().translate(_FOLD)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(text))


@dataclass(frozen=True)
class Vocabulary:
    colours: dict[str, str]  # folded word -> colour key
    categories: dict[str, str]  # folded word -> category key

    def keys_of(self, word: str) -> set[str]:
        """The colour and category keys a folded word names (empty for other words)."""
        found = set()
        for stem in _stems(word):
            bare = next((stem[len(p) :] for p in _COLOUR_PREFIXES if stem.startswith(p) and stem != p), stem)
            if bare in self.colours:
                found.add(self.colours[bare])
            if stem in self.categories:
                found.add(self.categories[stem])
        if not found:
            found |= {
                key
                for w, key in self.categories.items()
                if len(w) >= _MIN_COMPOUND and word.endswith(w) and len(word) > len(w)
            }
        return found

    def terms(self, text: str) -> set[str]:
        """The terms under which a text is found: its words and the keys they name."""
        out: set[str] = set()
        for word in words(text):
            out.add(word)
            out |= self.keys_of(word)
        return out

    def query(self, text: str) -> list[set[str]]:
        """Per query word, the terms any one of which satisfies it."""
        return [{w, *self.keys_of(w)} for w in words(text)]


def _stems(word: str) -> list[str]:
    return [word, *(word[: -len(e)] for e in _ENDINGS if word.endswith(e) and len(word) - len(e) >= 3)]


@cache
def vocabulary(taxonomy: Taxonomy) -> Vocabulary:
    colours = {fold(w): c.key for c in PALETTE for w in (c.key, c.label_de, c.label_en)}
    colours |= _COLOUR_WORDS
    categories = {}
    for category in taxonomy.categories.values():
        for text in (category.key, category.label_de, category.label_en, *category.words):
            for word in words(text):
                categories.setdefault(word, category.key)
    return Vocabulary(colours, categories)


def matches(query: list[set[str]], terms: set[str]) -> int:
    """How many query words the terms satisfy (exactly or as the beginning of a term)."""
    return sum(1 for options in query if any(t.startswith(o) for o in options for t in terms))


def item_index(taxonomy: Taxonomy, category: str, colours: list[str], *texts: str | None) -> str:
    """The register's `search_terms` of an item: its category and colours (keys and labels) and
    the words of its free-text fields."""
    vocab = vocabulary(taxonomy)
    cat = taxonomy.get(category)
    labelled = [cat.label_de, cat.label_en, *(f"{c.label_de} {c.label_en}" for k in colours if (c := COLOURS.get(k)))]
    terms = {category, *colours} | {t for text in (*labelled, *texts) if text for t in vocab.terms(text)}
    return index_text(terms, colours)
