"""The date a page states for itself, for its citation: in its byline, not in its story.

News pages put their date beside the byline ("– May 24 – By Scott Lucas –",
"Published 3 March 2016 |"), while the story's own dates sit inside sentences
("On May 23, the group …").  Only a date standing between separators, or
after "Published"/"Updated", near the top of the page counts; a page without
one has no date rather than a guessed one.
"""

from __future__ import annotations

import re

from qa.answer_type import MONTHS

HEAD_CHARS = 800  # where a page's byline and date stand
BYLINE_CHARS = 120  # a line opening with a date is a byline only if it is this short
_MONTH = rf"(?:{MONTHS}|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?)"
_DATE = (
    rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+(?:19|20)\d\d)?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?:,?\s+(?:19|20)\d\d)?"
    r"|(?:19|20)\d\d-[01]\d-[0-3]\d)"
)
_STATED = re.compile(
    rf"(?:^|[–—|•·]|\s-)\s*(?P<between>{_DATE})(?=\s*(?:[–—|•·]|\s-|$))"
    rf"|\b(?:Published|Updated|Posted)(?:\s+on)?:?\s+(?P<labelled>{_DATE})",
    re.M,
)


def stated_date(text: str) -> str | None:
    """The page's own date as it is written (``"May 24"``, ``"2016-05-24"``), or None if its top states none.

    >>> stated_date("MESOP Syria Daily\\n\\nWEST KURDISTAN – May 24 – By Scott Lucas – EA WorldView")
    'May 24'
    >>> stated_date("On May 23, the group detonated seven bombs.") is None
    True
    """
    for match in _STATED.finditer(text[: HEAD_CHARS + 40]):  # a date that starts in the head, read whole
        if match.start() >= HEAD_CHARS:
            break
        line_start = text.rfind("\n", 0, match.start()) + 1
        line_end = text.find("\n", match.start())
        at_line_start = not text[line_start : match.start()].strip(" –—|•·-")
        if (
            at_line_start
            and (len(text[line_start:line_end]) if line_end >= 0 else len(text) - line_start) > BYLINE_CHARS
        ):
            continue  # a long line that opens with a date is a story's ("March 15, 2011 – Protests erupt in …")
        return match.group("between") or match.group("labelled")
    return None
