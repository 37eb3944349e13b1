"""What a finding's message shows: the values a rule's templates may name.

A batch run fills a quarter of a million messages in two languages, so which values a
rule's templates name, and where each comes from, is worked out once per rule
(``MessageValues``), not once per finding.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
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


class MessageValues:
    """The values a rule's messages may show for its findings: only the ``wanted`` ones of
    the subjects where given (else every one), and a layer feature shown by its name or
    else by the layer's ``layer_title`` and its reference."""

    def __init__(
        self, *, wanted: Collection[str] | None = None, layer_title: str | None = None
    ) -> None:
        self.layer_title = layer_title
        self.project_keys = {
            prefix: tuple((name, key) for name, key in keys if wanted is None or key in wanted)
            for prefix, keys in _PROJECT_VALUE_KEYS.items()
        }
        self.feature_keys = (
            None if wanted is None else tuple(sorted(k for k in wanted if k.startswith("b.")))
        )

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
        measures: tuple[float, float, float, int | None, int | None],
        a: Project,
        b: Project | None,
        layer: str | None,
        b_ref: str,
        b_attributes: Mapping[str, Any] | None,
    ) -> dict[str, object]:
        """The values for a finding given by its parts: ``measures`` (distance, lineal and
        areal overlap, days, months), subject a, and subject b as a project or as the
        reference and attributes of a feature of ``layer``."""
        values: dict[str, object] = dict(zip(_MEASURE_KEYS, measures, strict=True))
        values["a.id"] = a.id
        attributes = a.attributes
        for name, key in self.project_keys["a"]:
            value = getattr(attributes, name)
            values[key] = getattr(value, "value", value)
        if b is not None:
            values["b.id"] = b.id
            attributes = b.attributes
            for name, key in self.project_keys["b"]:
                value = getattr(attributes, name)
                values[key] = getattr(value, "value", value)
            return values
        assert b_attributes is not None
        if self.feature_keys is None:
            values.update({f"b.{k}": v for k, v in b_attributes.items()})
        else:
            values.update({k: b_attributes.get(k[2:]) for k in self.feature_keys})
        values["b.layer"] = layer
        values["b.id"] = b_ref
        values["b.title"] = b_attributes.get("name") or f"{self.layer_title or layer} {b_ref}"
        return values


_MEASURE_KEYS = ("distance_m", "overlap_m", "overlap_m2", "overlap_days", "gap_months")


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
