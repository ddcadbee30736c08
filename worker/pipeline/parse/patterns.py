"""The word lists, phrase lists and regular expressions of the parse paths.

What the parser looks for, kept apart from how it looks (:mod:`.text`,
:mod:`.html`, :mod:`.json`, :mod:`.article`): title separators and the words
of outlet names, teaser-block headers and page furniture, by-line and date
lines, the class names of junk blocks, HTML tag sets and JSON field aliases.
The numeric thresholds stay with the code that applies them.
"""

from __future__ import annotations

import re
from typing import Final

from worker.pipeline.fields import BODY_KEYS

# --------------------------------------------------------------------------
# Title and outlet

_TITLE_SEPARATORS: Final = (" - ", " | ", " \u2013 ", " \u2014 ")
# Lower-case words allowed inside an outlet name ("Mail & Guardian", "Le Monde").
_CONNECTORS: Final = frozenset(
    {"&", "+", "of", "the", "and", "for", "on", "in", "at", "a", "an"}
    | {"de", "la", "le", "les", "el", "los", "las", "der", "die", "das", "du", "des", "di"}
    | {"da", "del", "y", "et"}
)
# Title suffixes that look like an outlet (short, capitalised) but are not one.
_NOT_OUTLETS: Final = frozenset(
    {
        "analysis",
        "as it happened",
        "breaking",
        "breaking news",
        "explained",
        "exclusive",
        "faq",
        "full text",
        "highlights",
        "in pictures",
        "interview",
        "latest",
        "latest news",
        "latest updates",
        "live",
        "live blog",
        "live updates",
        "opinion",
        "photos",
        "pictures",
        "podcast",
        "q&a",
        "recap",
        "report",
        "review",
        "timeline",
        "transcript",
        "update",
        "updates",
        "video",
        "videos",
        "watch",
        "what we know",
    }
)
_NUMBERED_PART: Final = re.compile(
    r"(?:part|episode|day|round|game|week|chapter|vol\.?|volume)\s+\d+", re.IGNORECASE
)
_OUTLET_BAD_END: Final = frozenset("?.\"'\u201c\u201d\u2018\u2019\u2026:;,")
_OUTLET_BAD_CHARS: Final = frozenset('?"\u201c\u201d')
_DOMAIN: Final = re.compile(r"[\w-]+(?:\.[\w-]+)+")


# --------------------------------------------------------------------------
# Teaser blocks ("You may also like...") and page furniture

_TEASER_TRIGGER: Final = re.compile(
    r"(?:you (?:may|might) (?:also )?(?:like|enjoy|be interested in)"
    r"|related(?: (?:stories|articles|news|content|posts|reading|coverage|links|topics))?"
    r"|read (?:more|next|also)|also read|see also|further reading|what to read next"
    r"|more (?:from|on|in) [^.,;:!?\"]{1,40}?|more (?:stories|news|articles|to read)"
    r"|most (?:popular|read|viewed|shared)|popular (?:now|stories)"
    r"|recommended(?: (?:for you|stories|reading|articles))?"
    r"|trending(?: (?:now|stories|news|articles))?|don'?t miss"
    # The same headers on French, German, Spanish, Portuguese and Italian pages.
    r"|(?:\u00e0 )?lire aussi|sur le m\u00eame sujet|voir aussi|mehr zum thema|lesen sie auch"
    r"|das k\u00f6nnte sie auch interessieren|auch interessant|lee tambi\u00e9n|leia tamb\u00e9m"
    r"|te puede interesar|leggi anche)"
    # Trailing decoration: "...", ":", "»"; a lone "." would make it a sentence.
    r"[\s:!>\u00bb\u2026\-\u2013\u2014]*+(?:\.{2,}+[\s:!>\u00bb\u2026\-\u2013\u2014]*+)?",
    re.IGNORECASE,
)
# An in-body link to another story: "Read more: Headline", "RELATED | Headline".
_INLINE_TEASER: Final = re.compile(
    r"(?:read (?:more|also|next)|related(?: stories| articles)?|see also|also read|more on this"
    r"|(?:\u00e0 )?lire aussi|mehr zum thema|lesen sie auch)"
    r"\s*[:|\u00bb>\u2013\u2014-]\s*\S.{0,150}",
    re.IGNORECASE,
)
# Page furniture that survives extraction as a line of its own.
_FURNITURE: Final = re.compile(
    r"(?:advertisement|advert|sponsored|(?:story |article )?continues? (?:reading )?below"
    r"|continue reading(?: below)?|share (?:this )?(?:article|story|page)"
    r"|print this (?:page|article)"
    r"|email (?:this )?to a friend|leave a (?:reply|comment)|share"
    r"|sign up(?: (?:for|to) [\w ]{1,40})?|subscribe(?: now)?|listen to (?:this )?article"
    r"|skip (?:to content|advert)"
    r"|(?:print this page|email to a friend)(?: \| (?:print this page|email to a friend))*"
    # Captions and credits scraped along with the text: "Image caption, ...".
    r"|(?:image|photo|picture|video) (?:caption|source|credit)s?\s*[,:].{0,200}"
    r"|(?:photo|image|picture)s?\s*:.{0,80})"
    r"[\s.:!\u2026]*",
    re.IGNORECASE,
)

# A bullet or list number in front of a teaser-block line.
_BULLET: Final = re.compile(r"^(?:[-*•·▪►»]|\d{1,2}[.)])\s+")
# How a teaser cut off mid-sentence ends.
_ELLIPSIS: Final = ("...", "\u2026")
# A second sentence inside a line: ". " followed by a capital.
_INNER_SENTENCE: Final = re.compile(r"[.!?][\"\u201d\u2019]?\s+[A-Z\u00c0-\u00de]")


# --------------------------------------------------------------------------
# By-lines and date lines under the headline

_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH: Final = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ZONE: Final = r"(?:utc|gmt|bst|cet|cest|est|edt|cst|pst|pdt|et|pt|ist|aest|sast|wat|eat)"
_CLOCK: Final = (
    rf"(?:\d{{1,2}}[:.]\d{{2}}(?:\s*[ap]\.?m\.?)?|\d{{1,2}}\s*[ap]\.?m\.?)"
    rf"(?:\s*{_ZONE}(?:\s*[+-]\s*\d{{1,2}})?)?"
)
_WEEKDAY: Final = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?"
_DATE_CORE: Final = (
    rf"(?:{_WEEKDAY}\s+)?(?:"
    rf"(?P<d1>\d{{1,2}})(?:st|nd|rd|th|\.)?\s+(?P<m1>{_MONTH}),?(?:\s+(?P<y1>\d{{4}}))?"
    rf"|(?P<m2>{_MONTH})\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y2>\d{{4}}))?"
    rf"|(?P<y3>\d{{4}})-(?P<m3>\d{{2}})-(?P<d3>\d{{2}})(?:[t ]\d{{2}}:\d{{2}}(?::\d{{2}})?\S*)?"
    rf"|(?P<d4>\d{{1,2}})[/.](?P<m4>\d{{1,2}})[/.](?P<y4>\d{{4}})"
    r"|yesterday|today|just now"
    r"|(?:\d{1,3}|an?|one)\s+(?:second|sec|minute|min|hour|hr|day|week|month|year)s?\s+ago)"
)
_DATE_LINE_RE: Final = re.compile(
    r"(?:(?:first |last )?(?:published|updated|posted|modified|last modified)"
    r"(?:\s+(?:on|at))?\s*:?\s*)?"
    rf"(?:{_CLOCK},?\s+(?:on\s+)?)?{_DATE_CORE}(?:,?\s+(?:at\s+)?{_CLOCK})?",
    re.IGNORECASE,
)
_READ_TIME: Final = re.compile(r"\d{1,3}\s*-?\s*min(?:ute)?s?\.?\s+read", re.IGNORECASE)
_META_SEPARATOR: Final = re.compile(r"\s+[|\u00b7\u2022/]\s+|\s+[-\u2013\u2014]\s+|\s*;\s+")
_BYLINE: Final = re.compile(
    r"(?:by|written by|words by|reporting by|report by|par|von|por|di|door)\s+(?P<names>.+)",
    re.IGNORECASE,
)
_ROLE_WORDS: Final = frozenset(
    re.split(
        " ",
        "correspondent editor reporter writer staff contributor columnist producer analyst desk"
        " bureau team agency agencies newsroom"
        # "By Tuesday" starts a sentence, not a by-line.
        " monday tuesday wednesday thursday friday saturday sunday",
    )
)
_NAME_WORD: Final = re.compile(
    r"[A-Z\u00c0-\u00de][\w'\u2019.-]*|(?:van|von|de|da|del|la|le|al|bin)"
)
_PLACE_SUFFIX: Final = re.compile(r"\s+in\s+[A-Z][\w ,.'-]*$")


# --------------------------------------------------------------------------
# Shared field normalisers

_BYLINE_PREFIX: Final = re.compile(r"^(?:by|written by|from)\s+", re.IGNORECASE)
_AUTHOR_SPLIT: Final = re.compile(r"\s*(?:;|,|\band\b|&)\s*", re.IGNORECASE)
_LANGUAGE: Final = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")


# --------------------------------------------------------------------------
# html payloads

# Blocks that are never the article: related links, recommendation widgets,
# newsletter boxes, share bars, comments and reply forms. trafilatura knows
# many of these; the names below are the ones that slipped through on the
# fixture pages and their common variants.
_JUNK_BLOCK_NAMES: Final = (
    "related",
    "relatedposts",
    "recommend",
    "outbrain",
    "taboola",
    "newsletter",
    "signup",
    "sign-up",
    "subscribe",
    "share",
    "social",
    "comment",
    "respond",
    "reply",
    "most-popular",
    "mostpopular",
    "most-read",
    "trending",
    "more-from",
    "lire-aussi",
    "read-more",
    "readmore",
    "ad-slot",
    "advert",
    "paywall",
    "topics",
)
_JUNK_BLOCK: Final = re.compile("|".join(map(re.escape, _JUNK_BLOCK_NAMES)))
# The junk blocks whose links are stories of the same outlet: kept as ``related``.
_RELATED_BLOCK: Final = re.compile(
    r"related|recommend|outbrain|taboola|popular|most|trending|more|read|lire"
)
# The elements a junk block can be.
_PRUNABLE_TAGS: Final = frozenset({"div", "section", "aside", "ul", "ol", "p", "span", "form"})
# The elements counted as text blocks (for the fallback extractors).
_TEXT_BLOCK_TAGS: Final = frozenset({"p", "div", "td", "li", "pre", "blockquote", "tr", "dd"})
# The elements a block of teaser cards can be, and the headings a card may have.
_CARD_CONTAINERS: Final = frozenset({"div", "section", "ul", "ol", "aside", "footer", "nav"})
_HEADINGS: Final = frozenset({"h2", "h3", "h4", "h5", "h6"})


# --------------------------------------------------------------------------
# json payloads

# Field aliases in priority order, compared after fields.field_key().
_TITLE_KEYS: Final = ("title", "headline", "name")
_BODY_KEYS: Final = BODY_KEYS  # shared with the producer: worker/pipeline/fields.py
_URL_KEYS: Final = ("url", "link", "canonicalurl", "canonical", "permalink")
_DATE_KEYS: Final = (
    "published",
    "date",
    "publishedat",
    "datepublished",
    "pubdate",
    "publicationdate",
    "publishedtime",
)
_OUTLET_KEYS: Final = ("source", "site", "outlet", "publisher", "sitename", "publication")
_AUTHOR_KEYS: Final = ("author", "authors", "byline", "creator")
_LANGUAGE_KEYS: Final = ("language", "lang", "inlanguage", "locale")

# HTML in a text field: the markup that gives it away, the tags that end a
# line and the ones dropped with their content.
_HTML_MARKUP: Final = re.compile(
    r"</?(?:p|br|div|span|a|b|i|u|s|em|strong|h[1-6]|ul|ol|li|blockquote|q|cite|figure"
    r"|figcaption|img|picture|section|article|header|footer|aside|nav|table|thead|tbody"
    r"|tr|td|th|pre|code|small|sup|sub|hr|font|mark|abbr|time|script|style|iframe|html"
    r"|body|main)\b[^<>]{0,2000}>",
    re.IGNORECASE,
)
_BLOCK_TAGS: Final = frozenset(
    {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "figcaption"}
    | {"section", "article", "header", "footer", "aside", "main", "ul", "ol", "table", "tr"}
    | {"td", "th", "dd", "dt", "hr"}
)
_JUNK_TAGS: Final = ("script", "style", "noscript", "template", "iframe", "object", "svg")


# An HTML tag, opening or closing (group 1 "/"), its name, self-closed
# (group 3 "/"); and the elements that never have a closing tag.
TAG: Final = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*?(/?)>")
VOID_ELEMENTS: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
