"""Sort keys and index letters for browsing (getArtists, getIndexes).

"The Beatles" sorts under B: leading articles are ignored, as Subsonic's
`ignoredArticles` attribute tells clients. Keys are accent-folded (orbsonic.ids.fold) so
"Björk" sorts with "Bjork"; letters outside A–Z go to "#".
"""

from __future__ import annotations

from orbsonic.ids import fold

IGNORED_ARTICLES = ("The", "El", "La", "Los", "Las", "Le", "Les")
_PREFIXES = tuple(a.lower() + " " for a in IGNORED_ARTICLES)


def sort_key(name: str | None) -> str:
    """Folded name without a leading article: "The Beatles" → "beatles"."""
    key = fold(name)
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix):]
    return key


def index_letter(key: str) -> str:
    """Index bucket of a sort key: "A".."Z", or "#" for digits, symbols and other scripts."""
    first = key[:1].upper()
    return first if "A" <= first <= "Z" else "#"
