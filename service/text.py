"""Free text from clients (notes, places, search words): any language, but no control characters.

PostgreSQL refuses NUL in text and SQLite keeps it; both would store other control characters
that only confuse the people and programs reading them later. Tabs and line breaks stay.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable(value: str) -> str:
    """`value` unchanged, or ValueError naming the first control character."""
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"control character U+{ord(found.group()):04X} at position {found.start()} is not allowed")
    return value


def visible(value: str) -> str:
    """`value` with each unprintable character (controls, line and paragraph separators, unassigned
    code points) replaced by U+FFFD: for names a client chose (file and archive member names) that
    the service repeats in its answers and records."""
    return "".join(c if c.isprintable() else "\ufffd" for c in value)


#: A text field of a request: validated like any other field (422 `invalid_request`).
PlainText = Annotated[str, AfterValidator(printable)]
