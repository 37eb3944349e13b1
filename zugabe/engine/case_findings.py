"""The engine's findings as the cases the store keeps (``CaseFinding``).

A case carries what a reviewer reads without the engine: both subjects, the measures
rounded, who is involved, the projects' shared window and the rule's message in both
languages. A batch run turns a quarter of a million findings into cases, so what all
findings of a rule share (the values its messages show, the layer's title and the
organisation answering for its data) is worked out once per rule, and each distinct set
of involved organisations and departments once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from zugabe.domain.cases import CaseFinding, Subject, pair_key
from zugabe.domain.layers import LayerDefinition
from zugabe.engine.detection import Involved, RuleFindings
from zugabe.engine.messages import MessageValues


def case_findings(
    groups: Sequence[RuleFindings],
    definitions: Mapping[str, LayerDefinition],
    responsible: Mapping[str, str],
) -> list[CaseFinding]:
    """The findings of each rule as cases; ``responsible`` maps a layer key to the
    organisation answering for its data, where one is recorded."""
    cases: list[CaseFinding] = []
    for group in groups:
        owner = responsible.get(group.layer) if group.layer else None
        cases += _rule_cases(group, definitions, owner)
    return cases


def _rule_cases(
    group: RuleFindings, definitions: Mapping[str, LayerDefinition], responsible: str | None
) -> list[CaseFinding]:
    rule, layer = group.rule, group.layer
    pick_values = MessageValues(
        wanted=rule.placeholders, layer_title=definitions[layer].title.de if layer else None
    ).picker(rule.message_names)
    units: dict[Involved, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    b_projects = group.b_projects
    cases = []
    for i, a in enumerate(group.a):
        b = b_projects[i] if b_projects is not None else None
        who = units.get(group.involved[i])
        if who is None:
            who = units[group.involved[i]] = _involved(group.involved[i], responsible)
        start, end = a.attributes.start, a.attributes.end
        if b is not None:
            other_start, other_end = b.attributes.start, b.attributes.end
            start = None if start is None or other_start is None else min(start, other_start)
            end = None if end is None or other_end is None else max(end, other_end)
        measures = (
            group.distance[i],
            group.length[i],
            group.area[i],
            group.overlap_days[i],
            group.gap_months[i],
        )
        shown = pick_values(
            measures,
            a,
            b,
            layer,
            group.b_refs[i],
            group.b_attributes[i] if group.b_attributes is not None else None,
        )
        subject_a, subject_b = Subject("project", str(a.id)), group.subject_b(i)
        cases.append(
            CaseFinding(
                pair_key=pair_key(rule.id, subject_a, subject_b),
                rule_id=rule.id,
                relation=rule.relation,
                severity=rule.severity,
                subject_a=subject_a,
                subject_b=subject_b,
                geometry=group.geometries[i],
                measures={
                    "overlap_area_m2": round(measures[2], 2),
                    "overlap_length_m": round(measures[1], 2),
                    "distance_m": round(measures[0], 2),
                    "overlap_days": measures[3],
                    "gap_months": measures[4],
                },
                organisations=who[0],
                departments=who[1],
                message=rule.fill(shown),
                window_start=start,
                window_end=end,
            )
        )
    return cases


def _involved(
    involved: Involved, responsible: str | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The organisations (the layer's responsible one added) and departments, sorted."""
    organisations = {o for o, _d in involved if o}
    if responsible:
        organisations.add(responsible)
    return tuple(sorted(organisations)), tuple(sorted({d for _o, d in involved if d}))
