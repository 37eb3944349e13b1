"""Use cases of ZUGABE, shared by the web layer and the CLI.

``Services.open(settings)`` wires the configured store, vocabulary and
services together once; the web app and each CLI command hold one.
"""

from __future__ import annotations

from dataclasses import dataclass

from zugabe.config import Settings
from zugabe.domain.vocabulary import Vocabulary
from zugabe.services.projects import ProjectService
from zugabe.storage import open_store
from zugabe.storage.contract import ProjectStore


@dataclass
class Services:
    settings: Settings
    vocabulary: Vocabulary
    store: ProjectStore
    projects: ProjectService

    @classmethod
    def open(cls, settings: Settings) -> Services:
        vocabulary = (
            Vocabulary.from_file(settings.vocabulary_file)
            if settings.vocabulary_file
            else Vocabulary.default()
        )
        store = open_store(settings.store_url)
        return cls(settings, vocabulary, store, ProjectService(store, vocabulary, settings))

    def close(self) -> None:
        self.store.close()
