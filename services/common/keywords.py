"""Keywords as people write them in configuration (classification rules, playbooks): Chinese
(and any non-ASCII) phrases match anywhere in the text; ASCII words match whole words, or as a
stem when they end with `*` ("refund*" matches "refunded"). Texts are matched lower-cased."""

import re


def keyword_regex(word: str) -> str:
    """The regular expression for one keyword."""
    word = word.lower()
    if not word.isascii():
        return re.escape(word)
    # Whole words: 'fire' is not in 'firmware'; punctuation stands as it is ('?').
    stem, bare = word.endswith("*"), word.rstrip("*")
    left = r"(?<![a-z0-9])" if bare[0].isalnum() else ""
    right = r"(?![a-z0-9])" if bare[-1].isalnum() and not stem else ""
    return left + re.escape(bare) + right


def any_of(words: list[str]) -> re.Pattern | None:
    """One pattern that finds any of the keywords; None for no keywords."""
    return re.compile("|".join(keyword_regex(w) for w in words)) if words else None
