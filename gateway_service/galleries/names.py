"""The rule for gallery and subject names (they come from URLs and are shown back to users)."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_LENGTH = 64
NAME_RULE = (
    f"1 to {MAX_NAME_LENGTH} characters, no '/', no control characters, no invisible format characters "
    "(such as right-to-left overrides or zero-width joiners), and not '.' or '..'"
)
_ALLOWED = re.compile(rf"[^\x00-\x1f\x7f-\x9f/]{{1,{MAX_NAME_LENGTH}}}")  # C0, DEL and C1 controls
# Names end up in paths and on screens: these would be path steps, or would make one name look like another.
_PATH_STEPS = frozenset({".", ".."})


class BadName(ValueError):
    """A gallery or subject name that breaks NAME_RULE; the message says which and why."""


def checked_name(kind: str, name: str) -> str:
    """``name`` if it follows NAME_RULE, else BadName naming ``kind`` ("gallery", "subject") and the rule."""
    if not _ALLOWED.fullmatch(name) or name in _PATH_STEPS or _has_format_character(name):
        shown = name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH] + "..."
        raise BadName(f"{kind} name {shown!r} is not allowed: use {NAME_RULE}")
    return name


def _has_format_character(name: str) -> bool:
    """Unicode category Cf: bidi overrides and isolates, zero-width joiners, soft hyphens and the like."""
    return any(unicodedata.category(character) == "Cf" for character in name)
