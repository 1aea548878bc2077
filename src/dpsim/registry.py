"""Name look-ups that fail with the allowed values and the closest match.

Every user-facing name (distortion, network, image source, ...) goes through :func:`resolve`, so a
typo is answered with "did you mean ...?" rather than a bare ``KeyError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(name: str, allowed: Iterable[str]) -> str | None:
    """Return the allowed value closest to ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(str(name), [str(a) for a in allowed], n=1, cutoff=0.6)
    return matches[0] if matches else None


def describe_choice(name: object, allowed: Iterable[str]) -> str:
    """Explain why ``name`` is not allowed: the allowed values and a suggestion."""
    allowed = list(allowed)
    message = f"{name!r} is not one of: {', '.join(map(str, allowed))}"
    hint = suggest(str(name), allowed)
    if hint is not None:
        message += f" (did you mean {hint!r}?)"
    return message


def resolve(name: str, allowed: Iterable[str], what: str) -> str:
    """Return ``name`` if allowed, else raise ``ValueError`` naming ``what`` and the choices."""
    allowed = list(allowed)
    if name in allowed:
        return name
    raise ValueError(f"unknown {what}: {describe_choice(name, allowed)}")
