"""How a layer feature is recognised across imports of its layer.

A coordination case names its layer feature by a reference that must survive a
re-import, or the case's review history would be cut off: stored row ids are new
with every import. The layer's ``id_attribute`` is that reference where its value
is unique. Real registers repeat ids (one city's tree register: 2,336 distinct
numbers for 18,697 trees) or leave them empty; such a feature is told apart by its
geometry, which an unchanged feature keeps from one import to the next.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import shapely

from zugabe.storage.contract import LayerFeature

DUPLICATE_EXAMPLES = 10  # repeated ids named in an import report


def id_text(value: Any) -> str | None:
    """An id attribute's value as text, None when it is empty."""
    return None if value in (None, "") else str(value)


def stable_ids(items: Sequence[LayerFeature], id_attribute: str | None) -> list[str]:
    """A reference per feature that the same feature keeps in the next import (see
    ``stable_refs``)."""
    geometries = np.empty(len(items), dtype=object)
    geometries[:] = [f.geometry for f in items]
    return stable_refs([f.attributes for f in items], geometries, id_attribute)


def stable_refs(
    attributes: Sequence[dict[str, Any]],
    geometries: npt.NDArray[np.object_],
    id_attribute: str | None,
) -> list[str]:
    """A reference per feature (its attributes and geometry, in stored order) that the
    same feature keeps in the next import.

    The id where it is unique; else ``<id>@<geometry digest>`` (``@<digest>`` without an
    id); exact twins (same id and geometry) are numbered in their stored order. The
    geometries that need a digest are encoded in one call (a layer may hold a million).
    """
    if not id_attribute:
        ids: list[str | None] = [None] * len(attributes)
    else:
        ids = [id_text(a.get(id_attribute)) for a in attributes]
        if None not in ids and len(set(ids)) == len(ids):
            return cast("list[str]", ids)  # every feature has its own id: the usual register
    counts = Counter(ids)
    refs: list[str | None] = [
        value if value is not None and counts[value] == 1 else None for value in ids
    ]
    digested = [position for position, ref in enumerate(refs) if ref is None]
    wkb = shapely.to_wkb(geometries[digested]).tolist() if digested else []
    for position, encoded in zip(digested, wkb, strict=True):
        refs[position] = f"{ids[position] or ''}@{_digest(encoded)}"
    twins = Counter(refs)
    seen: Counter[str | None] = Counter()
    result: list[str] = []
    for ref in refs:
        assert ref is not None
        if twins[ref] > 1:
            seen[ref] += 1
            ref = f"{ref}#{seen[ref]}"
        result.append(ref)
    return result


def _digest(wkb: bytes) -> str:
    """12 hex digits of a geometry's WKB: equal for the same coordinates."""
    return hashlib.blake2b(wkb, digest_size=6).hexdigest()


@dataclass(frozen=True)
class DuplicateIds:
    """Ids that more than one feature of an import carries (for the import report)."""

    distinct: int  # how many id values repeat
    features: int  # how many features carry one of them
    examples: tuple[str, ...]

    def note(self, id_attribute: str) -> str:
        examples = ", ".join(self.examples)
        return (
            f"{self.distinct} values of '{id_attribute}' repeat, on {self.features} features "
            f"(e.g. {examples}); such features are recognised by their geometry in later imports"
        )


def duplicate_ids(values: Sequence[str | None]) -> DuplicateIds | None:
    """The repeated values among ``values`` (empty ones ignored), None if all are unique."""
    present = [v for v in values if v is not None]
    if len(set(present)) == len(present):  # the usual case, without counting each value
        return None
    counts = Counter(present)
    repeated = [(value, n) for value, n in counts.items() if n > 1]
    if not repeated:
        return None
    return DuplicateIds(
        distinct=len(repeated),
        features=sum(n for _v, n in repeated),
        examples=tuple(value for value, _n in repeated[:DUPLICATE_EXAMPLES]),
    )
