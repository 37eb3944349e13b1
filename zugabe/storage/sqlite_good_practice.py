"""Good-practice examples, their votes and photos in the store.

A mixin of ``SqlStore``, so of both stores (plain Core; the geometry is WKB in a blob on
either). It writes what ``zugabe.domain.good_practice`` planned, in one transaction guarded
by the example's version, and decides nothing itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import shapely
from sqlalchemy import Connection, Row, delete, insert, select, update

from zugabe.domain.agreement import Vote, VoteChoice
from zugabe.domain.good_practice import (
    ExampleContent,
    ExampleState,
    ExampleWork,
    GoodPractice,
    NewGoodPractice,
    Photo,
    RealisedSynergy,
)
from zugabe.errors import NotFound, VersionConflict
from zugabe.storage.contract import NewPhoto, PhotoFile
from zugabe.storage.sql_connections import StoreConnections
from zugabe.storage.sqlite_schema import (
    good_practice_photos_table,
    good_practice_votes_table,
    good_practices_table,
)

_examples = good_practices_table.c
_votes = good_practice_votes_table.c
_photos = good_practice_photos_table.c
_PHOTO_META = [c for c in good_practice_photos_table.c if c.name not in ("image", "thumbnail")]


def _content_values(content: ExampleContent) -> dict[str, Any]:
    return content.as_json() | {"tags": json.dumps(list(content.tags))}


def _synergies_json(synergies: Sequence[RealisedSynergy]) -> str:
    return json.dumps([s.as_json() for s in synergies], ensure_ascii=False)


class SqliteGoodPractice(StoreConnections):
    """The ``GoodPracticeStore`` part of both stores."""

    def add_good_practice(self, example: NewGoodPractice, user: str) -> GoodPractice:
        now = datetime.now(UTC)
        with self._write() as conn:
            result = conn.execute(
                insert(good_practices_table).values(
                    project_id=example.project_id,
                    organisation=example.organisation,
                    measure_type=example.measure_type,
                    geometry=shapely.to_wkb(example.geometry),
                    state=ExampleState.PROPOSED.value,
                    round=1,
                    involved=json.dumps(list(example.round.involved)),
                    synergies=_synergies_json(example.round.synergies),
                    proposed_by=user,
                    proposed_at=now,
                    created_at=now,
                    updated_at=now,
                    version=1,
                    withdraw_reason="",
                    **_content_values(example.content),
                )
            )
            example_id = int(result.inserted_primary_key[0])
            return self._load(conn, example_id)

    def get_good_practice(self, example_id: int) -> GoodPractice | None:
        with self._read() as conn:
            return self._load_or_none(conn, example_id)

    def good_practice_of_project(self, project_id: int) -> GoodPractice | None:
        with self._read() as conn:
            found = conn.execute(
                select(_examples.id).where(_examples.project_id == project_id)
            ).scalar_one_or_none()
            return None if found is None else self._load(conn, int(found))

    def list_good_practices(self, states: Sequence[ExampleState] = ()) -> list[GoodPractice]:
        statement = select(good_practices_table)
        if states:
            statement = statement.where(_examples.state.in_([s.value for s in states]))
        with self._read() as conn:
            rows = conn.execute(statement).all()
            ids = [row.id for row in rows]
            votes = self._votes(conn, ids)
            photos = self._photos(conn, ids)
            examples = [
                _example(row, votes.get(row.id, ()), photos.get(row.id, ())) for row in rows
            ]
        return sorted(examples, key=lambda e: e.released_at or e.proposed_at, reverse=True)

    def apply_good_practice_work(
        self, example_id: int, work: ExampleWork, user: str, expected_version: int
    ) -> GoodPractice:
        with self._write() as conn:
            now = datetime.now(UTC)
            current = conn.execute(
                select(_examples.version, _examples.round).where(_examples.id == example_id)
            ).first()
            if current is None:
                raise NotFound(f"good-practice example {example_id} does not exist")
            if current.version != expected_version:
                raise VersionConflict(
                    f"good-practice example {example_id} was changed by someone else: you saw "
                    f"version {expected_version}, the current version is {current.version}"
                )
            values: dict[str, Any] = {"updated_at": now, "version": _examples.version + 1}
            if work.state is not None:
                values["state"] = work.state.value
            if work.content is not None:
                values.update(_content_values(work.content))
            if work.geometry is not None:
                values["geometry"] = shapely.to_wkb(work.geometry)
            if work.new_round is not None:
                values.update(
                    round=_examples.round + 1,
                    involved=json.dumps(list(work.new_round.involved)),
                    synergies=_synergies_json(work.new_round.synergies),
                    proposed_by=user,
                    proposed_at=now,
                    released_at=None,
                    withdrawn_by=None,
                    withdrawn_at=None,
                    withdraw_reason="",
                )
            if work.released:
                values["released_at"] = now
            if work.withdraw_reason is not None:
                values.update(
                    withdrawn_by=user, withdrawn_at=now, withdraw_reason=work.withdraw_reason
                )
            if work.vote is not None:
                conn.execute(
                    insert(good_practice_votes_table).values(
                        example_id=example_id,
                        round=current.round,
                        organisation=work.vote.organisation,
                        choice=work.vote.choice.value,
                        reason=work.vote.reason,
                        by_user=user,
                        at=now,
                    )
                )
            conn.execute(
                update(good_practices_table).where(_examples.id == example_id).values(values)
            )
            return self._load(conn, example_id)

    def add_good_practice_photo(self, example_id: int, photo: NewPhoto, user: str) -> Photo:
        with self._write() as conn:
            if self._load_or_none(conn, example_id) is None:
                raise NotFound(f"good-practice example {example_id} does not exist")
            result = conn.execute(
                insert(good_practice_photos_table).values(
                    example_id=example_id,
                    caption=photo.caption,
                    media_type=photo.media_type,
                    width=photo.width,
                    height=photo.height,
                    size=len(photo.image),
                    kept_location=int(photo.kept_location),
                    image=photo.image,
                    thumbnail=photo.thumbnail,
                    added_by=user,
                    added_at=datetime.now(UTC),
                )
            )
            photo_id = int(result.inserted_primary_key[0])
            row = conn.execute(select(*_PHOTO_META).where(_photos.id == photo_id)).one()
            return _photo(row)

    def delete_good_practice_photo(self, example_id: int, photo_id: int) -> bool:
        with self._write() as conn:
            result = conn.execute(
                delete(good_practice_photos_table).where(
                    _photos.id == photo_id, _photos.example_id == example_id
                )
            )
            return bool(result.rowcount)

    def good_practice_photo(self, photo_id: int, *, thumbnail: bool) -> PhotoFile | None:
        data = _photos.thumbnail if thumbnail else _photos.image
        with self._read() as conn:
            row = conn.execute(
                select(_photos.example_id, _photos.media_type, data).where(_photos.id == photo_id)
            ).first()
        if row is None:
            return None
        media_type = "image/jpeg" if thumbnail else row.media_type
        return PhotoFile(int(row.example_id), media_type, bytes(row[2]))

    # ------------------------------------------------------------ reading

    def _load_or_none(self, conn: Connection, example_id: int) -> GoodPractice | None:
        row = conn.execute(select(good_practices_table).where(_examples.id == example_id)).first()
        if row is None:
            return None
        votes = self._votes(conn, [example_id])
        photos = self._photos(conn, [example_id])
        return _example(row, votes.get(example_id, ()), photos.get(example_id, ()))

    def _load(self, conn: Connection, example_id: int) -> GoodPractice:
        example = self._load_or_none(conn, example_id)
        assert example is not None
        return example

    def _votes(
        self, conn: Connection, ids: Sequence[int]
    ) -> dict[int, tuple[tuple[int, Vote], ...]]:
        found: dict[int, list[tuple[int, Vote]]] = {}
        if not ids:
            return {}
        rows = conn.execute(
            select(good_practice_votes_table)
            .where(_votes.example_id.in_(ids))
            .order_by(_votes.example_id, _votes.round, _votes.at)
        )
        for row in rows:
            vote = Vote(row.organisation, VoteChoice(row.choice), row.reason, row.by_user, row.at)
            found.setdefault(row.example_id, []).append((row.round, vote))
        return {key: tuple(value) for key, value in found.items()}

    def _photos(self, conn: Connection, ids: Sequence[int]) -> dict[int, tuple[Photo, ...]]:
        found: dict[int, list[Photo]] = {}
        if not ids:
            return {}
        rows = conn.execute(
            select(*_PHOTO_META).where(_photos.example_id.in_(ids)).order_by(_photos.id)
        )
        for row in rows:
            found.setdefault(row.example_id, []).append(_photo(row))
        return {key: tuple(value) for key, value in found.items()}


def _photo(row: Row[Any]) -> Photo:
    return Photo(
        id=row.id,
        caption=row.caption,
        media_type=row.media_type,
        width=row.width,
        height=row.height,
        size=row.size,
        kept_location=bool(row.kept_location),
        added_by=row.added_by,
        added_at=row.added_at,
    )


def _example(
    row: Row[Any], votes: Sequence[tuple[int, Vote]], photos: Sequence[Photo]
) -> GoodPractice:
    return GoodPractice(
        id=row.id,
        project_id=row.project_id,
        organisation=row.organisation,
        measure_type=row.measure_type,
        geometry=shapely.from_wkb(bytes(row.geometry)),
        content=ExampleContent(
            title=row.title,
            description=row.description,
            costs_eur=row.costs_eur,
            costs_note=row.costs_note,
            lessons=row.lessons,
            contacts=row.contacts,
            tags=tuple(json.loads(row.tags)),
        ),
        state=ExampleState(row.state),
        round=row.round,
        involved=tuple(json.loads(row.involved)),
        synergies=tuple(RealisedSynergy.from_json(s) for s in json.loads(row.synergies)),
        proposed_by=row.proposed_by,
        proposed_at=row.proposed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        votes=tuple(vote for round_, vote in votes if round_ == row.round),
        released_at=row.released_at,
        withdrawn_by=row.withdrawn_by,
        withdrawn_at=row.withdrawn_at,
        withdraw_reason=row.withdraw_reason,
        photos=tuple(photos),
    )
