"""Settings: defaults in code, overridden by a TOML file, then ``ZUGABE_*``
environment variables, then explicit values (tests, CLI options).

Everything is validated at start; a bad value stops the service with a
message naming the setting and where it came from.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from zugabe.domain.accounts import Role
from zugabe.errors import ConfigError

ENV_PREFIX = "ZUGABE_"
CONFIG_FILE_ENV = "ZUGABE_CONFIG"
CONFIG_FILE_NAME = "zugabe.toml"
# North Rhine-Westphalia, lon/lat: the Emscher region and its neighbours.
NRW_BBOX = (5.86, 50.32, 9.47, 52.53)


class Settings(BaseModel):
    """All settings of a ZUGABE instance. Each field is documented in docs/administrators.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_path: Path = Field(
        default=Path("instance"), description="Folder for the store and local files."
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the store; empty: <instance>/zugabe.sqlite.",
    )
    storage_crs: str = Field(
        default="EPSG:25832", description="Metric CRS in which geometry is stored and analysed."
    )
    region_bbox: tuple[float, float, float, float] = Field(
        default=NRW_BBOX,
        description="Region served (lon/lat); geometry outside is refused; the map opens on it.",
    )
    max_vertices: int = Field(
        default=10_000, ge=1, description="Most vertices a project geometry may have."
    )
    page_size: int = Field(
        default=100, ge=1, description="Features per page when no limit is given."
    )
    max_page_size: int = Field(
        default=1000, ge=1, description="Largest limit a client may ask for."
    )
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes."
    )
    vocabulary_file: Path | None = Field(
        default=None,
        description="Vocabulary TOML file; empty: built-in Emscher-region defaults.",
    )
    layers_folder: Path | None = Field(
        default=None, description="Folder of layer definitions; empty: the shipped layers/."
    )
    rules_file: Path | None = Field(
        default=None,
        description="Coordination rules (TOML); empty: layers/rules/coordination.toml.",
    )
    synergy_file: Path | None = Field(
        default=None, description="Synergy grid criteria (TOML); empty: layers/rules/synergy.toml."
    )
    checklist_file: Path | None = Field(
        default=None,
        description="Checklist for water-sensitive development plans (TOML); empty: "
        "layers/checklists/water_sensitive_plan.toml.",
    )
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1024, description="Largest layer file upload, in bytes."
    )
    max_import_rows: int = Field(
        default=2_000_000,
        ge=1,
        description="Most rows (features) one layer or project file may hold to be imported.",
    )
    max_import_expanded_bytes: int = Field(
        default=1024**3,
        ge=1024,
        description=(
            "Most bytes one import reads: what a zip archive expands to, else the file's size "
            "(a shapefile's with its .dbf and .shx)."
        ),
    )
    max_refused_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description=(
            "A layer file with more of its rows refused does not replace the stored version "
            "(unless accept_partial); one with every row refused never does."
        ),
    )
    keep_layer_versions: int = Field(
        default=3,
        ge=0,
        le=100,
        description=(
            "Earlier versions of a layer whose features are kept, so that "
            "`zugabe layers rollback` can bring one back."
        ),
    )
    basemap_url: str = Field(
        default="",
        description=(
            "Base map of the web map: an XYZ tile URL ({z}/{x}/{y}) or a WMS endpoint; "
            "empty: a plain background with the districts and streets layers (works offline)."
        ),
    )
    basemap_wms_layers: str = Field(
        default="",
        description="WMS layer names (comma-separated); set: basemap_url is a WMS endpoint.",
    )
    basemap_attribution: str = Field(
        default="", description="Attribution text shown on the map for the base map."
    )
    public_read: bool = Field(
        default=False,
        description="Open the map and the GET API to anyone without signing in (read only).",
    )
    demo_instance: bool = Field(
        default=False,
        description=(
            "A demo instance (`make run`): accounts may keep the demo passwords that "
            "`zugabe demo` printed; any other instance refuses to start while one does."
        ),
    )
    secret_key: str = Field(
        default="",
        description=(
            "Key that signs session cookies (32+ characters); empty: generated once and "
            "kept in <instance>/secret_key (mode 600)."
        ),
    )
    session_hours: int = Field(
        default=10, ge=1, le=24 * 7, description="Longest life of a browser session, in hours."
    )
    session_idle_minutes: int = Field(
        default=60, ge=5, le=24 * 60, description="A browser session ends after this idle time."
    )
    token_days: int = Field(
        default=90, ge=1, description="Life of a new API token when none is given, in days."
    )
    token_max_days: int = Field(default=365, ge=1, description="Longest life of an API token.")
    login_limit_account: str = Field(
        default="5 per 15 minutes",
        description="Failed sign-ins allowed per account (flask-limiter syntax).",
    )
    login_limit_address: str = Field(
        default="20 per 15 minutes",
        description="Failed sign-ins allowed per client address (flask-limiter syntax).",
    )
    rate_limit_storage: str = Field(
        default="store",
        description=(
            "Where the sign-in limits are counted: store (ZUGABE's store, shared by all "
            "worker processes) or a flask-limiter storage URI (memory:// per process, "
            "redis://…)."
        ),
    )
    allowed_hosts: tuple[str, ...] = Field(
        default=("127.0.0.1", "localhost", "::1"),
        description=(
            "Host names the service answers to (comma-separated; a leading dot allows "
            "subdomains): other Host headers get 400, against DNS rebinding."
        ),
    )
    behind_https: bool = Field(
        default=False,
        description="Served through HTTPS (a proxy): cookies get the Secure flag, HSTS is sent.",
    )
    proxy_hops: int = Field(
        default=0,
        ge=0,
        le=5,
        description=(
            "Reverse proxies in front of ZUGABE whose X-Forwarded-For/-Proto/-Host are "
            "trusted; 0: none (the client address is the connection's)."
        ),
    )
    access_log: bool = Field(
        default=True,
        description="One line per request (method, path, status, time, account; no secrets).",
    )
    oidc_issuer: str = Field(
        default="",
        description="OpenID Connect issuer URL for single sign-on; empty: sign-on is off.",
    )
    oidc_client_id: str = Field(default="", description="Client id registered at the issuer.")
    oidc_client_secret: str = Field(default="", description="Client secret for the issuer.")
    oidc_scopes: str = Field(
        default="openid profile email", description="Scopes asked for at sign-on."
    )
    oidc_label: str = Field(
        default="Single Sign-on", description="Text of the sign-on button on the login page."
    )
    oidc_username_claim: str = Field(
        default="preferred_username", description="Claim that becomes the username."
    )
    oidc_organisation_claim: str = Field(
        default="zugabe_org", description="Claim that names the organisation."
    )
    oidc_organisation_map: dict[str, str] = Field(
        default_factory=dict,
        description="Claim value → organisation key, where they differ (TOML table or JSON).",
    )
    oidc_departments_claim: str = Field(
        default="zugabe_departments", description="Claim with the department keys."
    )
    oidc_roles_claim: str = Field(
        default="groups", description="Claim with the groups that map to roles."
    )
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict,
        description="Group → role (viewer, planner, …); unmapped groups give no role.",
    )
    smtp_host: str = Field(
        default="", description="Mail server that ZUGABE's e-mails go through; empty: mail is off."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the mail server.")
    smtp_user: str = Field(
        default="", description="Account at the mail server; empty: no login (a local relay)."
    )
    smtp_password: str = Field(default="", description="Password of smtp_user.")
    smtp_starttls: bool = Field(
        default=False,
        description="Switch the connection to TLS (STARTTLS) before anything is sent.",
    )
    mail_from: str = Field(
        default="",
        description="Sender of the e-mails, e.g. ZUGABE <zugabe@example.org>.",
    )
    public_url: str = Field(
        default="",
        description="Address of ZUGABE as its users reach it; the links in e-mails start with it.",
    )
    mail_retry_minutes: int = Field(
        default=5,
        ge=1,
        description="Wait before the first retry of an undelivered e-mail; doubled each time.",
    )
    mail_max_attempts: int = Field(
        default=8,
        ge=1,
        le=30,
        description="Attempts to deliver an e-mail before it is left failed.",
    )
    mail_digest_hour: int = Field(
        default=7,
        ge=0,
        le=23,
        description="Hour of the day (server time) from which the daily digests of "
        "notifications are sent.",
    )
    case_due_days_before_start: int = Field(
        default=42,
        ge=0,
        le=3650,
        description="A case without a due date of its own is due this many days before the "
        "earlier start of its two subjects.",
    )
    host: str = Field(default="127.0.0.1", description="Address `zugabe serve` listens on.")
    port: int = Field(default=5000, ge=1, le=65535, description="Port `zugabe serve` listens on.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes of `zugabe serve` (gunicorn), each with `threads` request "
        "threads.",
    )
    threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Request threads of each worker process of `zugabe serve`. Python runs one "
        "thread of a process at a time: more threads let a worker wait for the store or a slow "
        "client while another request runs, but make the running ones take turns (two served "
        "the load bench best, see docs/administrators.md#several-worker-processes).",
    )

    detection_processes: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 8),
        ge=1,
        le=64,
        description="Processes a batch detection run (`zugabe detect --all`, `POST "
        "/api/cases/detect`) detects in at once, itself included, when it has at least "
        "`detection_processes_from` work: the rules are shared out, and each helper process "
        "loads what its share needs from the store (one per CPU by default, at most 8; "
        "1 detects in the run's own process only).",
    )
    detection_processes_from: int = Field(
        default=300_000,
        ge=0,
        description="Work from which a batch run starts helper processes, in layer features "
        "(a project counts 10): a helper takes about a second to start and load, which "
        "a smaller region would not win back.",
    )
    rendered_cases: int = Field(
        default=300_000,
        ge=0,
        description="Coordination cases each worker process keeps rendered as the case list "
        "sends them (about 1 kB each: 300,000 take some 0.3 GB). At its start a worker "
        "renders the newest of them in German, the map's language, after its detection "
        "index; a case is rendered again only when it changed. 0 keeps none.",
    )

    @field_validator("region_bbox", "allowed_hosts", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """A comma-separated list, as environment variables give it."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("oidc_organisation_map", "oidc_role_map", mode="before")
    @classmethod
    def _json_table(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a JSON object ({exc.msg})") from None
        return value

    @field_validator("oidc_role_map")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        roles = {role.value for role in Role}
        unknown = sorted(set(value.values()) - roles)
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles: {', '.join(roles)}")
        return value

    @field_validator("login_limit_account", "login_limit_address")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a rate limit such as '5 per 15 minutes'") from None
        return value

    @field_validator(
        "vocabulary_file",
        "layers_folder",
        "rules_file",
        "synergy_file",
        "checklist_file",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("storage_crs")
    @classmethod
    def _metric_crs(cls, value: str) -> str:
        try:
            crs = CRS.from_user_input(value)
        except CRSError as exc:
            raise ValueError(f"'{value}' is not a CRS PROJ knows") from exc
        unit = crs.axis_info[0].unit_name if crs.axis_info else ""
        if not crs.is_projected or unit not in ("metre", "meter"):
            raise ValueError(f"'{value}' must be a projected CRS in metres (e.g. EPSG:25832)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        min_lon, min_lat, max_lon, max_lat = self.region_bbox
        if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
            raise ValueError("region_bbox must be min_lon,min_lat,max_lon,max_lat in WGS84")
        if self.page_size > self.max_page_size:
            raise ValueError("page_size must not exceed max_page_size")
        if self.secret_key and len(self.secret_key) < 32:
            raise ValueError("secret_key must have at least 32 characters")
        if self.token_days > self.token_max_days:
            raise ValueError("token_days must not exceed token_max_days")
        if self.oidc_issuer and not (self.oidc_client_id and self.oidc_client_secret):
            raise ValueError("oidc_issuer needs oidc_client_id and oidc_client_secret")
        if self.oidc_issuer and not self.oidc_issuer.startswith(("https://", "http://")):
            raise ValueError("oidc_issuer must be an http(s) URL")
        if self.basemap_url and not self.basemap_url.startswith(("https://", "http://")):
            raise ValueError("basemap_url must be an http(s) URL")
        if self.basemap_url and not self.basemap_wms_layers and "{z}" not in self.basemap_url:
            raise ValueError(
                "basemap_url needs {z}, {x} and {y} (XYZ tiles), or basemap_wms_layers (WMS)"
            )
        self._check_mail()
        return self

    def _check_mail(self) -> None:
        if self.public_url and not self.public_url.startswith(("https://", "http://")):
            raise ValueError("public_url must be an http(s) URL")
        if not self.smtp_host:
            return
        if "@" not in parseaddr(self.mail_from)[1]:
            raise ValueError("smtp_host needs mail_from, an address such as zugabe@example.org")
        if not self.public_url:
            raise ValueError("smtp_host needs public_url, where the links in e-mails point to")
        if self.smtp_user and not self.smtp_starttls:
            raise ValueError("smtp_user needs smtp_starttls: the password must not travel in clear")

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.instance_path / 'zugabe.sqlite').resolve()}"


SECRET_KEY_FILE = "secret_key"


def secret_key(settings: Settings) -> str:
    """The configured key, else one generated once and kept in the instance folder (0600).

    It signs the session cookies and the unsubscribe links in e-mails.
    """
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.instance_path) / SECRET_KEY_FILE
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48), "utf-8")
    return path.read_text("utf-8").strip()


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge defaults, the TOML file, the environment and overrides; validate."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    from_env: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_ENV:
            continue
        key = name.removeprefix(ENV_PREFIX).lower()
        from_env[key] = value
        origin[key] = f"environment variable {name}"
    instance = Path(overrides.get("instance_path") or from_env.get("instance_path") or "instance")
    config_file = Path(environ[CONFIG_FILE_ENV]) if environ.get(CONFIG_FILE_ENV) else None
    if config_file is None and (instance / CONFIG_FILE_NAME).is_file():
        config_file = instance / CONFIG_FILE_NAME
    from_file: dict[str, Any] = {}
    if config_file is not None:
        from_file = _read_toml(config_file)
        origin = {key: f"config file {config_file}" for key in from_file} | origin
    origin |= {key: "explicit setting" for key in overrides}
    merged = from_file | from_env | overrides
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else ""
            where = f" (from {origin[key]})" if key in origin else ""
            label = f"setting '{key}'" if key else "settings"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown {label}{where}")
            else:
                problems.append(f"{label}{where}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from exc
