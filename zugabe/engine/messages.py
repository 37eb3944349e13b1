"""What a finding's message shows: the values a rule's templates may name.

A batch run fills a quarter of a million messages in two languages, so which values a
rule's templates name, and where each comes from, is worked out once per rule
(``MessageValues``), not once per finding.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from zugabe.domain.project import Project
from zugabe.domain.rules import PROJECT_DATE_FIELDS, PROJECT_FIELDS, Rule
from zugabe.engine.detection import Finding
from zugabe.storage.contract import LayerFeature

_PROJECT_VALUE_KEYS = {
    prefix: tuple(
        (name, f"{prefix}.{name}") for name in (*PROJECT_FIELDS[1:], *PROJECT_DATE_FIELDS)
    )
    for prefix in ("a", "b")
}
"""(attribute, placeholder) of the project fields a message may show, per subject."""


Measures = tuple[float, float, float, int | None, int | None]
"""A finding's distance, lineal and areal overlap, days and months, as messages name them."""
_MEASURE_KEYS = ("distance_m", "overlap_m", "overlap_m2", "overlap_days", "gap_months")
_FIELDS = frozenset(name for name, _key in _PROJECT_VALUE_KEYS["a"])
Getter = Callable[
    [Measures, Project, Project | None, str | None, str, Mapping[str, Any] | None], object
]
"""One value of a finding from (measures, a, b as a project, the layer, b's reference, b's
attributes as a feature)."""


class MessageValues:
    """The values a rule's messages may show for its findings: only the ``wanted`` ones of
    the subjects where given (else every one), and a layer feature shown by its name or
    else by the layer's ``layer_title`` and its reference.

    ``picker`` gives the values of a rule's placeholders in order for many findings (a
    batch run's), ``of`` all of them by name; both through one getter per name.
    """

    def __init__(
        self, *, wanted: Collection[str] | None = None, layer_title: str | None = None
    ) -> None:
        self.wanted = wanted
        self.layer_title = layer_title

    def __call__(
        self, finding: Finding, a: Project, b: Project | LayerFeature
    ) -> dict[str, object]:
        subject_b = finding.subject_b
        return self.of(
            (
                finding.distance_m,
                finding.overlap_length_m,
                finding.overlap_area_m2,
                finding.overlap_days,
                finding.gap_months,
            ),
            a,
            b if isinstance(b, Project) else None,
            subject_b.layer,
            subject_b.ref,
            b.attributes if isinstance(b, LayerFeature) else None,
        )

    def of(
        self,
        measures: Measures,
        a: Project,
        b: Project | None,
        layer: str | None,
        b_ref: str,
        b_attributes: Mapping[str, Any] | None,
    ) -> dict[str, object]:
        """The values for a finding given by its parts: ``measures``, subject a, and
        subject b as a project or as the reference and attributes of a feature of
        ``layer``."""
        names = [*_MEASURE_KEYS, "a.id", *self._project_keys("a")]
        if b is not None:
            names += ["b.id", *self._project_keys("b")]
        else:
            assert b_attributes is not None
            if self.wanted is None:
                names += [f"b.{k}" for k in b_attributes]
            else:
                names += sorted(k for k in self.wanted if k.startswith("b."))
            names += ["b.layer", "b.id", "b.title"]
        values = self.picker(names)(measures, a, b, layer, b_ref, b_attributes)
        return dict(zip(names, values, strict=True))

    def picker(self, names: Sequence[str]) -> Callable[..., list[object]]:
        """The values of ``names`` for one finding given by its parts (as ``of``), in
        that order."""
        getters = [self._getter(name) for name in names]

        def pick(*parts: Any) -> list[object]:
            return [get(*parts) for get in getters]

        return pick

    def _project_keys(self, prefix: str) -> list[str]:
        wanted = self.wanted
        return [key for _, key in _PROJECT_VALUE_KEYS[prefix] if wanted is None or key in wanted]

    def _getter(self, name: str) -> Getter:
        if name in _MEASURE_KEYS:
            at = _MEASURE_KEYS.index(name)
            return lambda measures, a, b, layer, ref, attributes: measures[at]
        prefix, _, field = name.partition(".")
        if prefix == "a":
            if field == "id":
                return lambda measures, a, b, layer, ref, attributes: a.id
            if field in _FIELDS:
                return lambda measures, a, b, layer, ref, attributes: _field(a, field)
        elif prefix == "b":
            return self._b_getter(field)
        return lambda *parts: None

    def _b_getter(self, field: str) -> Getter:
        """Subject b's value: of the project, or of the feature (its layer, reference and
        shown title before any attribute of the same name)."""
        title = self.layer_title
        in_project = field in _FIELDS
        if field == "id":
            return lambda measures, a, b, layer, ref, attributes: b.id if b is not None else ref
        if field == "layer":
            return lambda measures, a, b, layer, ref, attributes: None if b is not None else layer

        def feature_value(
            b: Project | None, layer: str | None, ref: str, attributes: Mapping[str, Any] | None
        ) -> object:
            if b is not None:
                return _field(b, field) if in_project else None
            assert attributes is not None
            if field == "title":
                return attributes.get("name") or f"{title or layer} {ref}"
            return attributes.get(field)

        return lambda measures, a, b, layer, ref, attributes: feature_value(
            b, layer, ref, attributes
        )


def _field(project: Project, name: str) -> object:
    value = getattr(project.attributes, name)
    return getattr(value, "value", value)


def message_values(
    finding: Finding,
    a: Project,
    b: Project | LayerFeature,
    *,
    layer_title: str | None = None,
    wanted: Collection[str] | None = None,
) -> dict[str, object]:
    """The values a rule's message template may show for this finding (``MessageValues``
    made for one finding)."""
    return MessageValues(wanted=wanted, layer_title=layer_title)(finding, a, b)


def render_message(
    rule: Rule,
    finding: Finding,
    a: Project,
    b: Project | LayerFeature,
    lang: str = "de",
    *,
    layer_title: str | None = None,
) -> str:
    """The rule's message for this finding in ``lang``, placeholders filled in."""
    return rule.render(lang, message_values(finding, a, b, layer_title=layer_title))
