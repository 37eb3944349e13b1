"""Use cases of the good-practice collection: propose, revise, add photos, vote, withdraw;
and the released examples for everyone (public page, GeoJSON, Atom feed).

Each step checks the acting account, reads the example, lets ``domain.good_practice`` plan
the change and has the store write it with its audit entry, in one transaction guarded by
the version the plan was made from. What is public is decided here once
(``released``): the page, the GeoJSON and the feed all read through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zugabe.domain import good_practice as gp
from zugabe.domain.accounts import Actor
from zugabe.domain.cases import CaseStatus, Subject
from zugabe.domain.good_practice import ExampleState, ExampleWork, GoodPractice
from zugabe.domain.policy import Policy
from zugabe.domain.project import Project
from zugabe.domain.rules import RuleSet
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import NotFound, VersionConflict
from zugabe.io.crs import Reprojector
from zugabe.io.geojson import geometry_to_json
from zugabe.io.photos import clean_photo
from zugabe.services.audit import AuditService, Change
from zugabe.services.case_subjects import SubjectDescriber
from zugabe.storage.contract import CaseQuery, NewPhoto, PhotoFile, Store

VOTE_ATTEMPTS = 5
"""As on the desk: a vote planned on an example another vote changed meanwhile is planned
again, so the last agreement sees all the others."""


@dataclass(frozen=True)
class PublicFilter:
    """The public page's filters; empty: everything released."""

    measure_type: str | None = None
    city: str | None = None
    synergy: str | None = None  # a rule id of a realised synergy


def _summary(example: GoodPractice) -> dict[str, Any]:
    """What the audit log records before and after a step."""
    return {
        "state": example.state.value,
        "round": example.round,
        "title": example.content.title,
        "involved": list(example.involved),
        "votes": {v.organisation: v.choice.value for v in example.votes},
        "photos": [p.id for p in example.photos],
        "withdraw_reason": example.withdraw_reason or None,
    }


class GoodPracticeService:
    def __init__(
        self,
        store: Store,
        policy: Policy,
        audit: AuditService,
        vocabulary: Vocabulary,
        describer: SubjectDescriber,
        rules: RuleSet,
        reprojector: Reprojector,
    ) -> None:
        self.store = store
        self.policy = policy
        self.audit = audit
        self.vocabulary = vocabulary
        self.describer = describer
        self.rules = rules
        self.reprojector = reprojector

    # ------------------------------------------------------------ steps

    def propose(self, project_id: int, body: Mapping[str, Any], actor: Actor) -> GoodPractice:
        """Propose a finished project as good practice; its first round of votes begins."""
        self.policy.require_writer(actor)
        project = self._project(project_id)
        round_ = self._round(project)
        self.policy.require_good_practice_edit(
            actor, round_.involved, f"proposing project {project_id} as good practice"
        )
        content = gp.parse_content(body, self.vocabulary.measure_types)
        with self.store.transaction():
            new = gp.propose(
                project, content, round_, self.store.good_practice_of_project(project_id)
            )
            example = self.store.add_good_practice(new, actor.username)
            self.audit.record(
                actor,
                Change(
                    "good_practice.propose",
                    "good_practice",
                    str(example.id),
                    None,
                    _summary(example),
                ),
            )
        return example

    def revise(
        self,
        example_id: int,
        body: Mapping[str, Any],
        actor: Actor,
        expected_version: int | None,
    ) -> GoodPractice:
        """Change the content: proposed again, a new round of votes."""

        def plan(example: GoodPractice, project: Project | None) -> ExampleWork:
            content = gp.parse_content(body, self.vocabulary.measure_types, example.content)
            return gp.revise(example, content, self._round_of(example, project), project)

        return self._edit(example_id, actor, expected_version, "changing", plan)

    def add_photo(
        self,
        example_id: int,
        data: bytes,
        caption: str,
        keep_location: bool,
        actor: Actor,
        expected_version: int | None,
    ) -> GoodPractice:
        """A photo, checked by its content and cleaned (``io.photos``); proposed again."""
        caption = gp.parse_caption(caption)
        self.policy.require_writer(actor)
        example = self._stored(example_id)
        self._require_edit(actor, example, "adding a photo to")
        gp.photo_allowed(example)
        photo = clean_photo(data, keep_location=keep_location)  # before the write lock

        def plan(example: GoodPractice, project: Project | None) -> ExampleWork:
            gp.photo_allowed(example)
            self.store.add_good_practice_photo(
                example.id,
                NewPhoto(
                    photo.image,
                    photo.thumbnail,
                    photo.media_type,
                    photo.width,
                    photo.height,
                    caption,
                    photo.kept_location,
                ),
                actor.username,
            )
            round_ = self._round_of(example, project)
            return gp.revise(example, None, round_, project, "good_practice.add_photo")

        return self._edit(example_id, actor, expected_version, "adding a photo to", plan)

    def delete_photo(
        self, example_id: int, photo_id: int, actor: Actor, expected_version: int | None
    ) -> GoodPractice:
        def plan(example: GoodPractice, project: Project | None) -> ExampleWork:
            if not self.store.delete_good_practice_photo(example.id, photo_id):
                raise NotFound(f"good-practice example {example.id} has no photo {photo_id}")
            round_ = self._round_of(example, project)
            return gp.revise(example, None, round_, project, "good_practice.delete_photo")

        return self._edit(example_id, actor, expected_version, "removing a photo of", plan)

    def vote(self, example_id: int, choice: str, reason: str, actor: Actor) -> GoodPractice:
        """The acting coordinator's organisation agrees or objects (one vote each)."""
        self.policy.require_writer(actor)
        for _attempt in range(VOTE_ATTEMPTS):
            example = self._stored(example_id)
            self.policy.require_case_vote(
                actor, example.involved, f"voting on good-practice example {example_id}"
            )
            work = gp.vote(example, actor.organisation, choice, reason)
            try:
                return self._apply(example, work, actor)
            except VersionConflict:
                continue
        raise VersionConflict(
            f"good-practice example {example_id} keeps changing; vote again in a moment"
        )

    def withdraw(
        self, example_id: int, reason: str, actor: Actor, expected_version: int | None
    ) -> GoodPractice:
        """Take an example off the public page: a coordinator of an organisation involved
        (or a region admin), with a reason; in the audit log as ``good_practice.withdraw``."""
        self.policy.require_writer(actor)
        example = self._stored(example_id)
        self.policy.require_case_review(
            actor, example.involved, f"withdrawing good-practice example {example_id}"
        )
        self._check_version(example, expected_version)
        return self._apply(example, gp.withdraw(example, reason), actor)

    # ------------------------------------------------------------ reading

    def get(self, example_id: int, actor: Actor) -> GoodPractice:
        self.policy.require_read(actor)
        return self._stored(example_id)

    def list(self, actor: Actor, states: tuple[ExampleState, ...] = ()) -> list[GoodPractice]:
        self.policy.require_read(actor)
        return self.store.list_good_practices(states)

    def released(self, where: PublicFilter = PublicFilter()) -> list[GoodPractice]:
        """The released examples, for everyone: nothing else is ever public."""
        found = []
        for example in self.store.list_good_practices((ExampleState.RELEASED,)):
            if where.measure_type and where.measure_type not in self.measure_types(example):
                continue
            if where.city and where.city != self.city(example):
                continue
            if where.synergy and where.synergy not in {s.rule_id for s in example.synergies}:
                continue
            found.append(example)
        return found

    def released_one(self, example_id: int) -> GoodPractice:
        example = self.store.get_good_practice(example_id)
        if example is None or not example.public:
            raise NotFound(f"there is no released good-practice example {example_id}")
        return example

    def photo(self, photo_id: int, *, thumbnail: bool, actor: Actor) -> PhotoFile:
        """A photo of a released example for everyone; of any other for readers."""
        found = self.store.good_practice_photo(photo_id, thumbnail=thumbnail)
        if found is None:
            raise NotFound(f"there is no photo {photo_id}")
        example = self.store.get_good_practice(found.example_id)
        if (example is None or not example.public) and not self.policy.may_read(actor):
            raise NotFound(f"there is no photo {photo_id}")  # not even that it exists
        return found

    # ------------------------------------------------------------ presentation

    def measure_types(self, example: GoodPractice) -> tuple[str, ...]:
        """The project's measure type and the tags: what the measure-type filter matches."""
        return tuple(dict.fromkeys((example.measure_type, *example.content.tags)))

    def city(self, example: GoodPractice) -> str | None:
        """The project's organisation when it is a city, else the first city involved."""
        organisations = self.vocabulary.organisations
        for key in (example.organisation, *example.involved):
            organisation = organisations.get(key)
            if organisation is not None and organisation.kind == "city":
                return key
        return None

    def label(self, kind: str, key: str | None, lang: str) -> str:
        """A vocabulary key or a rule id as the reader's language names it."""
        if key is None:
            return "–"
        if kind == "rule":
            rule = next((r for r in self.rules.rules if r.id == key), None)
            return getattr(rule.name, lang) if rule is not None else key
        terms: Mapping[str, Any] = {
            "organisation": self.vocabulary.organisations,
            "measure_type": self.vocabulary.measure_types,
        }[kind]
        term = terms.get(key)
        return getattr(term, lang) if term is not None else key

    def to_json(self, example: GoodPractice) -> dict[str, Any]:
        """An example with its round, votes and history, as readers see it: the API's
        answer and ``zugabe good-practice … --json``."""
        content = example.content
        return {
            "id": example.id,
            "project_id": example.project_id,
            "state": example.state.value,
            "round": example.round,
            "version": example.version,
            **content.as_json(),
            "organisation": example.organisation,
            "measure_type": example.measure_type,
            "city": self.city(example),
            "involved": list(example.involved),
            "waiting_for": list(example.waiting_for()),
            "votes": [
                {
                    "organisation": v.organisation,
                    "vote": v.choice.value,
                    "reason": v.reason,
                    "by": v.by,
                    "at": v.at.isoformat(),
                }
                for v in example.votes
            ],
            "synergies": [s.as_json() for s in example.synergies],
            "photos": [
                {
                    "id": p.id,
                    "caption": p.caption,
                    "media_type": p.media_type,
                    "width": p.width,
                    "height": p.height,
                    "size": p.size,
                    "kept_location": p.kept_location,
                    "url": f"/good-practice/photos/{p.id}",
                    "thumbnail": f"/good-practice/photos/{p.id}/thumbnail",
                }
                for p in example.photos
            ],
            "proposed_by": example.proposed_by,
            "proposed_at": example.proposed_at.isoformat(),
            "released_at": example.released_at.isoformat() if example.released_at else None,
            "withdrawn_by": example.withdrawn_by,
            "withdrawn_at": example.withdrawn_at.isoformat() if example.withdrawn_at else None,
            "withdraw_reason": example.withdraw_reason or None,
            "geometry": self.geometry_json(example),
        }

    def public_json(self, example: GoodPractice, lang: str, base_url: str) -> dict[str, Any]:
        """An example as the public sees it (GeoJSON properties, the page, the feed)."""
        content = example.content
        return {
            "id": example.id,
            **{k: v for k, v in content.as_json().items() if k != "tags"},
            "organisation": example.organisation,
            "organisation_label": self.label("organisation", example.organisation, lang),
            "city": self.city(example),
            "city_label": self.label("organisation", self.city(example), lang),
            "measure_types": [
                {"key": m, "label": self.label("measure_type", m, lang)}
                for m in self.measure_types(example)
            ],
            "synergies": [
                {
                    "rule_id": s.rule_id,
                    "label": self.label("rule", s.rule_id, lang),
                    "partner": s.partner.get(lang, s.partner.get("en", "")),
                    "decision_kind": s.decision_kind,
                    "decision_text": s.decision_text,
                }
                for s in example.synergies
            ],
            "involved": [
                {"key": o, "label": self.label("organisation", o, lang)} for o in example.involved
            ],
            "photos": [
                {
                    "caption": p.caption,
                    "width": p.width,
                    "height": p.height,
                    "url": f"{base_url}good-practice/photos/{p.id}",
                    "thumbnail": f"{base_url}good-practice/photos/{p.id}/thumbnail",
                }
                for p in example.photos
            ],
            "released_at": example.released_at.isoformat() if example.released_at else None,
            "url": f"{base_url}good-practice/{example.id}",
        }

    def geometry_json(self, example: GoodPractice, *, point: bool = False) -> dict[str, Any]:
        """The project's geometry in WGS84 (its point on the surface with ``point``)."""
        geometry = example.geometry.point_on_surface() if point else example.geometry
        return geometry_to_json(self.reprojector.to_wgs84(geometry))

    # ------------------------------------------------------------ helpers

    def _project(self, project_id: int) -> Project:
        project = self.store.get_project(project_id)
        if project is None:
            raise NotFound(f"project {project_id} does not exist")
        return project

    def _round(self, project: Project) -> gp.Round:
        listed = self.store.list_cases(
            CaseQuery(
                subject=f"project:{project.id}",
                statuses=(CaseStatus.AGREED, CaseStatus.OBSOLETE),
                relations=("synergy",),
            )
        )
        # Listed cases carry the decisions of live ones only; an obsolete case's agreement
        # (``agreed_decision``) is read with the whole case.
        cases = [case for c in listed if (case := self.store.get_case(c.id)) is not None]
        partners = {}
        for case in cases:
            a, b = case.finding.subject_a, case.finding.subject_b
            other = b if a.kind == "project" and a.ref == str(project.id) else a
            partners[case.id] = self._label(other)
        return gp.round_of(project, gp.agreed_synergies(project, cases, partners))

    def _round_of(self, example: GoodPractice, project: Project | None) -> gp.Round:
        """The round for a revision: from the project's agreed cases as they are now, or
        the last round's when the project is gone."""
        if project is None:
            return gp.Round(example.involved, example.synergies)
        return self._round(project)

    def _label(self, subject: Subject) -> dict[str, str]:
        project = None
        if subject.kind == "project":
            project = self.store.get_project(int(subject.ref))
        described = self.describer.describe(subject, project, None)
        return dict(described["label"])

    def _stored(self, example_id: int) -> GoodPractice:
        example = self.store.get_good_practice(example_id)
        if example is None:
            raise NotFound(f"good-practice example {example_id} does not exist")
        return example

    def _require_edit(self, actor: Actor, example: GoodPractice, what: str) -> None:
        self.policy.require_good_practice_edit(
            actor, example.involved, f"{what} good-practice example {example.id}"
        )

    @staticmethod
    def _check_version(example: GoodPractice, expected_version: int | None) -> None:
        if expected_version is not None and example.version != expected_version:
            raise VersionConflict(
                f"good-practice example {example.id} was changed by someone else: you saw "
                f"version {expected_version}, the current version is {example.version}"
            )

    def _edit(
        self,
        example_id: int,
        actor: Actor,
        expected_version: int | None,
        what: str,
        plan: Callable[[GoodPractice, Project | None], ExampleWork],
    ) -> GoodPractice:
        self.policy.require_writer(actor)
        with self.store.transaction():
            example = self._stored(example_id)
            self._require_edit(actor, example, what)
            self._check_version(example, expected_version)
            project = self.store.get_project(example.project_id)
            return self._apply(example, plan(example, project), actor)

    def _apply(self, example: GoodPractice, work: ExampleWork, actor: Actor) -> GoodPractice:
        with self.store.transaction():
            changed = self.store.apply_good_practice_work(
                example.id, work, actor.username, example.version
            )
            self.audit.record(
                actor,
                Change(
                    work.action,
                    "good_practice",
                    str(example.id),
                    _summary(example),
                    _summary(changed),
                ),
            )
        return changed
