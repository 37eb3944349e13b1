"""A detection run's findings as the SQL stores write them: checked and encoded column
values (``PreparedFindings``), made before the write lock is taken, or in a batch run's
helper process (``zugabe.detection_shares``) and handed to ``Store.sync_case_parts``.

Both SQL stores (SQLite and PostGIS) write these values: WKB geometry, JSON measures,
organisations, departments and messages, ISO dates, and the involvement rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from zugabe.domain.cases import CaseFinding
from zugabe.errors import InvalidInput
from zugabe.storage.sqlite_engine import encode_json, encode_row, geometry_array

ORGANISATION, DEPARTMENT = "organisation", "department"
"""The kinds of a case's involvement rows (``case_involvements.kind``)."""

IDENTITY = (
    "rule_id",
    "subject_a_key",
    "subject_a_kind",
    "subject_a_ref",
    "subject_a_layer",
    "subject_b_key",
    "subject_b_kind",
    "subject_b_ref",
    "subject_b_layer",
)
"""What the pair key already says: written when a case is created, never after."""

PAYLOAD = (
    "relation",
    "severity",
    "geometry",
    "measures",
    "organisations",
    "departments",
    "message",
    "window_start",
    "window_end",
)
"""What recomputation may change, compared as stored (WKB, JSON and ISO text)."""

BOX = ("min_x", "min_y", "max_x", "max_y")

Box = tuple[float, float, float, float] | tuple[None, None, None, None]
"""min_x, min_y, max_x, max_y of an overlap geometry, or None four times."""
NO_BOX: Box = (None, None, None, None)


@dataclass(frozen=True)
class PreparedFindings:
    """Findings as column values, checked and encoded before the write lock.

    One entry per finding in each list, in the order of the findings.
    """

    keys: list[str]
    identities: list[tuple[Any, ...]]
    """Values of ``IDENTITY``."""
    payloads: list[tuple[Any, ...]]
    """Values of ``PAYLOAD``, exactly as stored."""
    boxes: list[Box]
    involvements: list[list[tuple[str, str]]]
    """(kind, value) to involve, without repeats."""

    @classmethod
    def of(cls, findings: Sequence[CaseFinding]) -> PreparedFindings:
        keys = [finding.pair_key for finding in findings]
        if len(set(keys)) != len(keys):
            twice = next(key for key, count in Counter(keys).items() if count > 1)
            raise ValueError(f"the findings name case '{twice}' more than once")
        geometries = geometry_array([finding.geometry for finding in findings])
        _check_finite(geometries, keys)
        wkb = shapely.to_wkb(geometries).tolist()
        bounds = shapely.bounds(geometries)
        boxed = np.isfinite(bounds).all(axis=1).tolist()
        boxes = [
            tuple(box) if ok else NO_BOX for box, ok in zip(bounds.tolist(), boxed, strict=True)
        ]
        measures = _json_column(keys, [f.measures for f in findings], "measures")
        messages = _json_column(keys, [f.message for f in findings], "message")
        # Few distinct sets of organisations and departments, and of dates: encoded once each.
        involved: dict[tuple[tuple[str, ...], ...], tuple[str, str, list[tuple[str, str]]]] = {}
        days: dict[date | None, str | None] = {None: None}
        identities = []
        payloads = []
        involvements = []
        for i, finding in enumerate(findings):
            a, b = finding.subject_a, finding.subject_b
            start, end = finding.window_start, finding.window_end
            who = (tuple(finding.organisations), tuple(finding.departments))
            encoded = involved.get(who)
            if encoded is None:
                encoded = involved[who] = _encode_involved(finding)
            if start not in days:
                days[start] = start.isoformat()
            if end not in days:
                days[end] = end.isoformat()
            identities.append(
                (
                    finding.rule_id,
                    a.key,
                    a.kind,
                    str(a.ref),
                    a.layer,
                    b.key,
                    b.kind,
                    str(b.ref),
                    b.layer,
                )
            )
            payloads.append(
                (
                    finding.relation,
                    finding.severity,
                    wkb[i],
                    measures[i],
                    encoded[0],
                    encoded[1],
                    messages[i],
                    days[start],
                    days[end],
                )
            )
            involvements.append(encoded[2])
        return cls(keys, identities, payloads, boxes, involvements)


def _encode_involved(finding: CaseFinding) -> tuple[str, str, list[tuple[str, str]]]:
    """JSON of a finding's organisations and departments, and its involvement rows."""
    what = f"case '{finding.pair_key}'"
    organisations = encode_json(list(finding.organisations), f"the organisations of {what}")
    departments = encode_json(list(finding.departments), f"the departments of {what}")
    return (
        organisations,
        departments,
        involvement_pairs(finding.organisations, finding.departments),
    )


def involvement_pairs(
    organisations: Iterable[str], departments: Iterable[str]
) -> list[tuple[str, str]]:
    return list(
        dict.fromkeys(
            [(ORGANISATION, value) for value in organisations]
            + [(DEPARTMENT, value) for value in departments]
        )
    )


def _check_finite(geometries: npt.NDArray[np.object_], keys: list[str]) -> None:
    """Refuse NaN or infinite coordinates anywhere, not only at the bounds.

    GEOS skips a NaN vertex when it computes an envelope, so a line with one
    in its middle has finite bounds; every coordinate is checked instead.
    """
    coordinates, index = shapely.get_coordinates(geometries, return_index=True)
    broken = ~np.isfinite(coordinates).all(axis=1)
    if broken.any():
        key = keys[int(index[int(np.argmax(broken))])]
        raise InvalidInput(
            f"case '{key}': the overlap geometry has coordinates that are not finite numbers"
        )


def _json_column(keys: list[str], values: list[Any], what: str) -> list[str]:
    try:
        return [encode_row(value) for value in values]
    except (TypeError, ValueError):
        for key, value in zip(keys, values, strict=True):
            encode_json(value, f"the {what} of case '{key}'")
        raise
