"""The rule for gallery and subject names (they come from URLs and are shown back to users)."""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 64
NAME_RULE = f"1 to {MAX_NAME_LENGTH} characters, no '/' and no control characters"
_ALLOWED = re.compile(rf"[^\x00-\x1f\x7f/]{{1,{MAX_NAME_LENGTH}}}")


class BadName(ValueError):
    """A gallery or subject name that breaks NAME_RULE; the message says which and why."""


def checked_name(kind: str, name: str) -> str:
    """``name`` if it follows NAME_RULE, else BadName naming ``kind`` ("gallery", "subject") and the rule."""
    if not _ALLOWED.fullmatch(name):
        shown = name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH] + "..."
        raise BadName(f"{kind} name {shown!r} is not allowed: use {NAME_RULE}")
    return name
