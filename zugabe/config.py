"""Settings: defaults in code, overridden by a TOML file, then ``ZUGABE_*``
environment variables, then explicit values (tests, CLI options).

Everything is validated at start; a bad value stops the service with a
message naming the setting and where it came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from zugabe.errors import ConfigError

ENV_PREFIX = "ZUGABE_"
CONFIG_FILE_ENV = "ZUGABE_CONFIG"
CONFIG_FILE_NAME = "zugabe.toml"
# North Rhine-Westphalia, lon/lat: the Emscher region and its neighbours.
NRW_BBOX = (5.86, 50.32, 9.47, 52.53)


class Settings(BaseModel):
    """All settings of a ZUGABE instance. Each field is documented in the README."""

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
        description="Region served (lon/lat); geometry outside is refused.",
    )
    max_vertices: int = Field(
        default=10_000, ge=1, description="Most vertices a project geometry may have."
    )
    default_user: str = Field(
        default="anonymous",
        min_length=1,
        description="Acting user when a request names none (until accounts exist).",
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
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1024, description="Largest layer file upload, in bytes."
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
    host: str = Field(default="127.0.0.1", description="Address `zugabe serve` listens on.")
    port: int = Field(default=5000, ge=1, le=65535, description="Port `zugabe serve` listens on.")

    @field_validator("region_bbox", mode="before")
    @classmethod
    def _split_bbox(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",")]
        return value

    @field_validator(
        "vocabulary_file", "layers_folder", "rules_file", "synergy_file", mode="before"
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
        if self.basemap_url and not self.basemap_url.startswith(("https://", "http://")):
            raise ValueError("basemap_url must be an http(s) URL")
        if self.basemap_url and not self.basemap_wms_layers and "{z}" not in self.basemap_url:
            raise ValueError(
                "basemap_url needs {z}, {x} and {y} (XYZ tiles), or basemap_wms_layers (WMS)"
            )
        return self

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.instance_path / 'zugabe.sqlite').resolve()}"


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
