"""The two languages ZUGABE speaks: German (the default) and English."""

from __future__ import annotations

from typing import Literal

Lang = Literal["de", "en"]
LANGUAGES: tuple[Lang, ...] = ("de", "en")


def pick(texts: tuple[str, str], lang: str) -> str:
    """The German or English one of a (de, en) pair; German for anything else."""
    return texts[1] if lang == "en" else texts[0]
