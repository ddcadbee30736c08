"""How the JSON parser names a record's fields, apart from the parser.

The producer refuses a record with no body field before queueing it; this
module lets it ask the parser's own question without loading the parser
(lxml, trafilatura and the language model).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["BODY_KEYS", "field_key"]

# A record's body field, in the parser's order of preference, as field_key()
# normalises names.
BODY_KEYS: Final = ("body", "text", "content", "article", "articlebody", "description")

# What field_key() drops from a name.
_KEY_NOISE: Final = re.compile(r"[\W_]+")


def field_key(key: str) -> str:
    """A field name as aliases are compared: articleBody, article_body and
    Article-Body are equal."""
    return _KEY_NOISE.sub("", key).casefold()
