"""Use cases of ZUGABE, shared by the web layer and the CLI.

``Services.open(settings)`` wires the configured store, vocabulary, layer
definitions and services together once; the web app and each CLI command
hold one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zugabe.config import Settings
from zugabe.detection_shares import DetectionProcesses
from zugabe.domain.checklist import Checklist, default_checklist_path, load_checklist
from zugabe.domain.layers import LayerDefinition, default_layers_folder, load_layer_definitions
from zugabe.domain.policy import Policy
from zugabe.domain.rules import RuleSet, default_rules_path, load_rules
from zugabe.domain.synergy import default_synergy_path, load_synergy_config
from zugabe.domain.vocabulary import Vocabulary
from zugabe.io.crs import Reprojector, region_crs_warning
from zugabe.io.geojson import GeometryRules
from zugabe.services.accounts import AccountService
from zugabe.services.audit import AuditService
from zugabe.services.case_subjects import SubjectDescriber
from zugabe.services.cases import CaseService
from zugabe.services.checklists import ChecklistService
from zugabe.services.collector_pause import collector_paused
from zugabe.services.desk import DeskService
from zugabe.services.good_practice import GoodPracticeService
from zugabe.services.inbox import InboxService
from zugabe.services.jobs import JobService
from zugabe.services.layers import LayerService
from zugabe.services.mail import MailService
from zugabe.services.notifications import NotificationService
from zugabe.services.projects import ProjectService
from zugabe.services.search import SearchService
from zugabe.services.strategies import StrategyService
from zugabe.services.synergy import SynergyService
from zugabe.storage import open_store
from zugabe.storage.contract import Store


@dataclass(frozen=True)
class RegionSetup:
    """What the region's files declare — vocabulary, layer definitions, rules, the checklist —
    checked without opening the store, so ``zugabe rules check`` reads no data."""

    vocabulary: Vocabulary
    definitions: Mapping[str, LayerDefinition]
    rules: RuleSet
    checklist: Checklist

    @classmethod
    def load(cls, settings: Settings) -> RegionSetup:
        vocabulary = (
            Vocabulary.from_file(settings.vocabulary_file)
            if settings.vocabulary_file
            else Vocabulary.default()
        )
        definitions = load_layer_definitions(settings.layers_folder or default_layers_folder())
        rules = load_rules(settings.rules_file or default_rules_path(), vocabulary, definitions)
        checklist = load_checklist(settings.checklist_file or default_checklist_path(), definitions)
        return cls(vocabulary, definitions, rules, checklist)


@dataclass
class Services:
    settings: Settings
    vocabulary: Vocabulary
    store: Store
    policy: Policy
    audit: AuditService
    accounts: AccountService
    projects: ProjectService
    layers: LayerService
    synergy: SynergyService
    cases: CaseService
    desk: DeskService
    inbox: InboxService
    rules: RuleSet
    jobs: JobService
    mail: MailService
    search: SearchService
    notifications: NotificationService
    strategies: StrategyService
    good_practice: GoodPracticeService
    checklists: ChecklistService

    @classmethod
    def open(cls, settings: Settings) -> Services:
        region = RegionSetup.load(settings)
        vocabulary, definitions = region.vocabulary, region.definitions
        synergy_config = load_synergy_config(
            settings.synergy_file or default_synergy_path(), definitions
        )
        reprojector = Reprojector(settings.storage_crs)
        store = open_store(settings.store_url, reprojector.storage_crs.to_epsg())
        policy = Policy(
            o.key for o in vocabulary.organisations.values() if o.planners_by_department
        )
        audit = AuditService(store, policy)
        accounts = AccountService(store, vocabulary, settings, policy, audit)
        mail = MailService(store, settings)
        geometry_rules = GeometryRules(settings.region_bbox, settings.max_vertices)
        notifications = NotificationService(
            store, settings, policy, audit, mail, vocabulary, definitions, reprojector
        )
        cases = CaseService(
            store,
            region.rules.active,
            definitions,
            reprojector,
            policy,
            audit,
            accounts.display_name,
            accounts.names_generation,
            vocabulary,
            settings.case_due_days_before_start,
            notifications,
            settings.rendered_cases,
            DetectionProcesses(
                settings.detection_processes,
                settings.detection_processes_from,
                settings.store_url,
                reprojector.storage_crs.to_epsg(),
            ),
        )
        projects = ProjectService(
            store,
            vocabulary,
            settings,
            policy,
            audit,
            notifications,
            reprojector,
            geometry_rules,
            cases,
        )
        layers = LayerService(
            store,
            definitions,
            settings,
            policy,
            audit,
            vocabulary.organisations,
            notifications,
            reprojector,
            cases,
        )
        synergy = SynergyService(store, projects, synergy_config, settings)
        return cls(
            settings,
            vocabulary,
            store,
            policy,
            audit,
            accounts,
            projects,
            layers,
            synergy,
            cases,
            DeskService(store, policy, audit, notifications),
            InboxService(store, policy, settings),
            region.rules,
            JobService(policy, store),
            mail,
            SearchService(store, definitions, reprojector, policy),
            notifications,
            StrategyService(store, policy, vocabulary, synergy),
            GoodPracticeService(
                store,
                policy,
                audit,
                vocabulary,
                SubjectDescriber(store, definitions),
                region.rules,
                reprojector,
            ),
            ChecklistService(store, region.checklist, definitions, policy, audit),
        )

    def start_warnings(self) -> list[str]:
        """What an administrator should know at start but need not stop for."""
        warnings = []
        inactive = len(self.rules.inactive)
        if inactive:
            warnings.append(
                f"{inactive} rule{'s' if inactive > 1 else ''} inactive (keys missing from "
                "the vocabulary); see `zugabe rules check`"
            )
        crs = region_crs_warning(self.settings.region_bbox, self.settings.storage_crs)
        if crs:
            warnings.append(crs)
        return warnings

    @collector_paused()  # the requests served meanwhile keep their cycles a while
    def warm_up(self) -> None:
        """What a serving process prepares at its start, in the background: the detection
        index (for the first save), then the projects and the newest cases rendered for
        the map (for the first views)."""
        self.cases.build_index()
        self.projects.render_ahead()
        self.cases.render_ahead()

    def close(self) -> None:
        self.mail.close()  # the mails being sent are recorded first
        self.jobs.close()  # a running job finishes (and commits or rolls back) first
        self.store.close()
