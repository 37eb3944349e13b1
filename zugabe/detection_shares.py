"""A batch run's detection shared out over processes, so a large region uses every CPU.

A batch run over a region spends most of its time in Python: loading a million layer
features, turning findings into cases, encoding them. Python runs one thread of a process
at a time, and threads cannot help here: the SQLite driver gives the interpreter lock up
around every row it steps and must win it back, so a thread computing beside the writing
made the writing 40 times slower (measured, docs/developers.md). Processes do not share
the lock.

The rules are shared out whole (``share_out``): all project × project rules in one share
(a fallback between projects leaves out the pairs the others relate), each layer's rules
in one (a fallback on a layer yields to the other rules on that layer). The shares are
put into as many bins as there are processes, heaviest first, by their work: the layer's
features, and ``PROJECT_WEIGHT`` per project for the project pairs. The calling process
detects the first bin itself; each other bin goes to a helper process (``detect_share``),
which opens the store, loads what its rules need (``load_index``) and hands back its
findings checked and encoded for the store (``PreparedFindings``). The caller writes its
own share's cases while the helpers still detect, then each helper's as it is done, all in
one transaction (``Store.sync_case_parts``): the cases are those one process would write,
new ones numbered in that order.

A helper reads what is committed, so only a transaction that has written nothing yet may
use helpers: ``CaseService.batch_run``, which holds the store's write lock from its start,
so that what the helpers read is what the caller reads.
"""

from __future__ import annotations

import gc
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from zugabe.domain.layers import LayerDefinition
from zugabe.domain.rules import ProjectSelector, Rule
from zugabe.engine import DetectionIndex, detect_every_rule
from zugabe.engine.case_findings import case_findings
from zugabe.errors import StorageError, ZugabeError
from zugabe.storage import Store, open_store
from zugabe.storage.case_rows import PreparedFindings
from zugabe.storage.contract import LayerInfo, ProjectQuery

PROJECT_WEIGHT = 10
"""The work of the project × project rules per project, in layer features: on the 50,000
× 1,000,000 bench region, their detection and cases take about ten times as long per
project as the layer rules take per feature (``bench/bench_scale.py``)."""


@dataclass(frozen=True)
class DetectionProcesses:
    """How a batch run may share out its detection (settings ``detection_processes`` and
    ``detection_processes_from``), and where a helper finds the store."""

    processes: int
    """Processes detecting at once, this one included; 1 detects everything here."""
    from_weight: int
    """Helpers start only from this much work (layer features, ``PROJECT_WEIGHT`` per
    project): a helper takes about a second to start and load."""
    store_url: str = field(repr=False)  # may hold a password
    srid: int | None


@dataclass(frozen=True)
class ShareRequest:
    """What a helper needs to detect its share: sent to it pickled, never logged."""

    store_url: str = field(repr=False)  # may hold a password
    srid: int | None
    revision: int
    """The store's revision the run reads: the helper must read the same."""
    rules: tuple[Rule, ...]
    definitions: Mapping[str, LayerDefinition]
    responsible: Mapping[str, str]


def work_of(layers: Sequence[LayerInfo], projects: int) -> dict[str | None, int]:
    """The work of each layer's rules (its features) and of the project × project rules
    (under ``None``: ``PROJECT_WEIGHT`` per project), in layer features."""
    return {None: projects * PROJECT_WEIGHT} | {info.key: info.feature_count for info in layers}


def share_out(
    rules: Sequence[Rule], work: Mapping[str | None, int], bins: int
) -> list[tuple[Rule, ...]]:
    """The rules in at most ``bins`` shares of about equal ``work`` (``work_of``), each in
    the order of ``rules``; the share with the project × project rules first."""
    groups: dict[str | None, list[Rule]] = {}
    for rule in rules:
        groups.setdefault(_share_key(rule), []).append(rule)
    filled: list[list[str | None]] = [[] for _ in range(max(1, bins))]
    loads = [0] * len(filled)
    for key in sorted(groups, key=lambda key: (-work.get(key, 0), key or "")):
        lightest = loads.index(min(loads))
        filled[lightest].append(key)
        loads[lightest] += work.get(key, 0)
    order = {rule.id: i for i, rule in enumerate(rules)}
    shares = [
        tuple(sorted((rule for key in keys for rule in groups[key]), key=lambda r: order[r.id]))
        for keys in filled
        if keys
    ]
    return sorted(shares, key=lambda share: all(_share_key(rule) for rule in share))


def _share_key(rule: Rule) -> str | None:
    """The share a rule belongs to: its layer's, or ``None`` for project × project."""
    return None if isinstance(rule.b, ProjectSelector) else rule.layer


def responsible_for(layers: Sequence[LayerInfo]) -> dict[str, str]:
    """Layer key → the organisation responsible for its data, where one is recorded."""
    return {
        info.key: info.responsible_organisation for info in layers if info.responsible_organisation
    }


def load_index(
    store: Store, rules: Sequence[Rule], definitions: Mapping[str, LayerDefinition]
) -> tuple[DetectionIndex, frozenset[str]]:
    """An index for ``rules`` over the store: every stored project, and the features of
    the layers they may meet; with the keys of the layers loaded.

    A layer no stored project can meet under any rule is not loaded (reading half a
    million features back costs seconds, e.g. right after importing a layer into a
    region without projects yet).
    """
    projects = store.list_projects(ProjectQuery())
    layer_keys = frozenset(
        rule.layer
        for rule in rules
        if rule.layer and any(rule.a.matches(p.attributes) for p in projects)
    )
    layers = {key: store.layer_feature_columns(key) for key in sorted(layer_keys)}
    return DetectionIndex(projects, layers, layer_definitions=definitions, rules=rules), layer_keys


def detect_share(request: ShareRequest) -> PreparedFindings:
    """In a helper process: the findings of a share of the rules over the committed store,
    as cases checked and encoded for it."""
    store = open_store(request.store_url, request.srid)
    try:
        revision = store.revision()
        if revision != request.revision:  # another store, or a write the lock let through
            raise StorageError(
                f"a detection helper process read the store at revision {revision}, the "
                f"batch run at {request.revision}: the run is stopped, nothing written"
            )
        index, _ = load_index(store, request.rules, request.definitions)
    finally:
        store.close()
    return prepared_findings(index, request.rules, request.definitions, request.responsible)


def prepared_findings(
    index: DetectionIndex,
    rules: Sequence[Rule],
    definitions: Mapping[str, LayerDefinition],
    responsible: Mapping[str, str],
) -> PreparedFindings:
    """The cases the rules find over the index, checked and encoded for the store."""
    groups = detect_every_rule(index, rules)
    return PreparedFindings.of(case_findings(groups, definitions, responsible))


class Helper:
    """A helper process detecting one share: started at once, its findings taken by
    ``result``. A new interpreter running ``serve``, not a fork: it inherits no lock
    another thread of a server worker held, nor open store connections, and runs no
    caller's script again (as multiprocessing's spawn would). The request and the findings
    pass through files in a private temporary folder, so neither side blocks on a full
    pipe while the other computes."""

    def __init__(self, request: ShareRequest, folder: Path) -> None:
        self.folder = folder
        (folder / _REQUEST).write_bytes(pickle.dumps(request, pickle.HIGHEST_PROTOCOL))
        package_root = str(Path(__file__).resolve().parents[1])  # the zugabe we run
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        with (folder / _ERRORS).open("wb") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _HELPER_MAIN, str(folder), str(os.getpid())],
                env={**os.environ, "PYTHONPATH": path},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )

    def result(self) -> PreparedFindings:
        """The share's findings, when the helper is done; its error, if it failed."""
        code = self.process.wait()
        outcome = self.folder / _OUTCOME
        if code != 0 or not outcome.exists():
            raise StorageError(
                f"a detection helper process failed (exit code {code}); its errors go to the log"
            )
        found = pickle.loads(outcome.read_bytes())
        if isinstance(found, Exception):
            raise found
        assert isinstance(found, PreparedFindings)
        return found

    def stop(self) -> None:
        """Stop the helper if it still runs (the caller failed first); what it wrote to
        standard error goes to ours (the server's log)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        errors = (self.folder / _ERRORS).read_text(errors="replace").strip()
        if errors:
            sys.stderr.write(errors + "\n")


_REQUEST, _OUTCOME, _ERRORS = "request.pickle", "outcome.pickle", "errors.txt"
_HELPER_MAIN = "import sys; from zugabe.detection_shares import serve; serve(*sys.argv[1:])"


@contextmanager
def helpers_detecting(requests: Sequence[ShareRequest]) -> Iterator[list[Helper]]:
    """One helper process per request, started now and detecting while the caller does its
    own share; stopped on leaving, also when the caller fails."""
    with tempfile.TemporaryDirectory(prefix="zugabe-detection-") as folder:
        helpers: list[Helper] = []
        try:
            for number, request in enumerate(requests):
                share = Path(folder) / str(number)
                share.mkdir()
                helpers.append(Helper(request, share))
            yield helpers
        finally:
            for helper in helpers:
                helper.stop()


def serve(folder: str, run_process: str) -> None:
    """A helper's life: read the request, detect, leave the findings (or the error).
    ``run_process``: the id of the run's process, which started this one."""
    gc.disable()  # millions of objects, none in a cycle, in a process that ends after
    shared = Path(folder)
    run = int(run_process)  # not os.getppid() here: the run may be gone already
    threading.Thread(target=_end_without, args=(run, shared.parent), daemon=True).start()
    request = pickle.loads((shared / _REQUEST).read_bytes())
    (shared / _REQUEST).unlink()  # it names the store, maybe with a password: read once
    try:
        outcome: PreparedFindings | Exception = detect_share(request)
    except ZugabeError as exc:  # a clear error for the caller to raise; others fail hard
        outcome = exc
    (shared / _OUTCOME).write_bytes(pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL))
    if os.getppid() != run:  # the run ended while the findings were written
        _leave(shared.parent)


def _end_without(run: int, folder: Path) -> None:
    """End this helper once the run that started it is gone (killed hard, so that its own
    clean-up never ran): no detecting for nobody, no files left behind."""
    while os.getppid() == run:
        time.sleep(ORPHAN_CHECK_SECONDS)
    _leave(folder)


def _leave(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os._exit(1)


ORPHAN_CHECK_SECONDS = 0.2
"""How often a helper looks whether the run that started it is still there."""
