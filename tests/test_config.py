"""Settings: defaults, TOML file, environment, explicit values; bad ones stop the start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import client_as
from zugabe.config import load_settings
from zugabe.errors import ConfigError
from zugabe.web import create_app


def test_defaults() -> None:
    settings = load_settings(environ={})
    assert settings.storage_crs == "EPSG:25832"
    assert settings.store_url.endswith("instance/zugabe.sqlite")
    # Closed by default: no anonymous reading, no demo passwords, local host names only.
    assert (settings.public_read, settings.demo_instance, settings.behind_https) == (
        False,
        False,
        False,
    )
    assert settings.allowed_hosts == ("127.0.0.1", "localhost", "::1")
    assert (settings.secret_key, settings.oidc_issuer, settings.proxy_hops) == ("", "", 0)
    assert (settings.session_hours, settings.session_idle_minutes) == (10, 60)
    assert (settings.token_days, settings.token_max_days) == (90, 365)


def test_precedence_file_then_environment_then_explicit(tmp_path: Path) -> None:
    config = tmp_path / "zugabe.toml"
    config.write_text('oidc_label = "from-file"\npage_size = 50\nmax_vertices = 500\n')
    environ = {"ZUGABE_CONFIG": str(config), "ZUGABE_PAGE_SIZE": "20", "ZUGABE_MAX_VERTICES": "400"}
    settings = load_settings({"max_vertices": 300}, environ)
    assert (settings.oidc_label, settings.page_size, settings.max_vertices) == (
        "from-file",
        20,
        300,
    )


def test_config_file_in_instance_folder_is_found(tmp_path: Path) -> None:
    (tmp_path / "zugabe.toml").write_text('oidc_label = "Stadt Herne"\npublic_read = true\n')
    settings = load_settings({"instance_path": tmp_path}, {})
    assert (settings.oidc_label, settings.public_read) == ("Stadt Herne", True)


def test_default_user_is_gone(tmp_path: Path) -> None:
    """Who acts comes from the credentials now; an old setting stops the start, named."""
    config = tmp_path / "zugabe.toml"
    config.write_text('default_user = "stadt-herne"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings({"instance_path": tmp_path}, {})
    assert f"unknown setting 'default_user' (from config file {config})" in caught.value.detail
    with pytest.raises(ConfigError, match="unknown setting 'default_user' \\(from environment"):
        load_settings(environ={"ZUGABE_DEFAULT_USER": "stadt-herne"})


def test_account_settings_from_environment() -> None:
    settings = load_settings(
        environ={
            "ZUGABE_ALLOWED_HOSTS": "zugabe.example.org, .emscher.example ,",
            "ZUGABE_PUBLIC_READ": "true",
            "ZUGABE_SECRET_KEY": "k" * 32,
            "ZUGABE_OIDC_ISSUER": "https://sso.example.org/realms/emscher",
            "ZUGABE_OIDC_CLIENT_ID": "zugabe",
            "ZUGABE_OIDC_CLIENT_SECRET": "s3cret",
            "ZUGABE_OIDC_ROLE_MAP": '{"gis-planer": "planner", "gis-admins": "region_admin"}',
            "ZUGABE_LOGIN_LIMIT_ACCOUNT": "3 per 10 minutes",
        }
    )
    assert settings.allowed_hosts == ("zugabe.example.org", ".emscher.example")
    assert settings.public_read is True
    assert settings.oidc_role_map == {"gis-planer": "planner", "gis-admins": "region_admin"}
    assert settings.login_limit_account == "3 per 10 minutes"


def test_region_from_environment() -> None:
    settings = load_settings(environ={"ZUGABE_REGION_BBOX": "6.5, 51.3, 7.8, 51.7"})
    assert settings.region_bbox == (6.5, 51.3, 7.8, 51.7)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"ZUGABE_STORAGE_CRS": "EPSG:4326"},
            "setting 'storage_crs' (from environment variable ZUGABE_STORAGE_CRS): "
            "'EPSG:4326' must be a projected CRS in metres",
        ),
        ({"ZUGABE_STORAGE_CRS": "EPSG:999999"}, "is not a CRS PROJ knows"),
        (
            {"ZUGABE_MAX_VERTICES": "many"},
            "setting 'max_vertices' (from environment variable ZUGABE_MAX_VERTICES)",
        ),
        ({"ZUGABE_PORT": "70000"}, "setting 'port'"),
        (
            {"ZUGABE_REGION_BBOX": "9,51,7,52"},
            "region_bbox must be min_lon,min_lat,max_lon,max_lat",
        ),
        ({"ZUGABE_PAGE_SIZE": "5000"}, "page_size must not exceed max_page_size"),
        ({"ZUGABE_SECRET_KEY": "short"}, "secret_key must have at least 32 characters"),
        (
            {"ZUGABE_TOKEN_DAYS": "400"},
            "token_days must not exceed token_max_days",
        ),
        ({"ZUGABE_SESSION_HOURS": "0"}, "setting 'session_hours'"),
        (
            {"ZUGABE_OIDC_ISSUER": "https://sso.example.org"},
            "oidc_issuer needs oidc_client_id and oidc_client_secret",
        ),
        (
            {"ZUGABE_OIDC_ROLE_MAP": '{"gis": "superuser"}'},
            "setting 'oidc_role_map' (from environment variable ZUGABE_OIDC_ROLE_MAP): "
            "unknown role(s) superuser",
        ),
        ({"ZUGABE_OIDC_ROLE_MAP": "gis=planner"}, "must be a JSON object"),
        (
            {"ZUGABE_LOGIN_LIMIT_ADDRESS": "lots"},
            "'lots' is not a rate limit such as '5 per 15 minutes'",
        ),
        ({"ZUGABE_PROXY_HOPS": "9"}, "setting 'proxy_hops'"),
        ({"ZUGABE_SMTP_HOST": "mail.example.org"}, "smtp_host needs mail_from"),
        (
            {"ZUGABE_SMTP_HOST": "mail.example.org", "ZUGABE_MAIL_FROM": "ZUGABE <z@x.org>"},
            "smtp_host needs public_url",
        ),
        (
            {
                "ZUGABE_SMTP_HOST": "mail.example.org",
                "ZUGABE_MAIL_FROM": "z@x.org",
                "ZUGABE_PUBLIC_URL": "https://zugabe.x.org",
                "ZUGABE_SMTP_USER": "zugabe",
            },
            "smtp_user needs smtp_starttls",
        ),
        ({"ZUGABE_PUBLIC_URL": "zugabe.x.org"}, "public_url must be an http(s) URL"),
        ({"ZUGABE_MAIL_MAX_ATTEMPTS": "0"}, "setting 'mail_max_attempts'"),
        (
            {"ZUGABE_MAX_VERTEX": "10"},
            "unknown setting 'max_vertex' (from environment variable ZUGABE_MAX_VERTEX)",
        ),
    ],
)
def test_bad_settings_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert message in caught.value.detail


def test_bad_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "zugabe.toml"
    config.write_text("max_vertices = \n")
    with pytest.raises(ConfigError, match=f"config file {config}: not valid TOML"):
        load_settings(environ={"ZUGABE_CONFIG": str(config)})
    config.write_text("max_vertices = -1\n")
    with pytest.raises(
        ConfigError, match=f"setting 'max_vertices' \\(from config file {config}\\)"
    ):
        load_settings(environ={"ZUGABE_CONFIG": str(config)})


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(environ={"ZUGABE_CONFIG": str(tmp_path / "nope.toml")})


def test_broken_vocabulary_stops_the_app(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.toml"
    vocab.write_text(
        '[measure_types]\nroad_renewal = { de = "Fahrbahnerneuerung", en = "Road renewal" }\n'
        '[departments.roads]\nde = "Straßenbau"\nen = "Roads"\n'
        'measure_types = ["road_renewal", "bridge"]\n'
        '[organisations.town]\nde = "Stadt"\nen = "Town"\ndepartments = ["roads", "parks"]\n'
    )
    with pytest.raises(ConfigError) as caught:
        create_app({"instance_path": tmp_path / "instance", "vocabulary_file": vocab})
    assert "departments.roads: unknown measure type 'bridge'" in caught.value.detail
    assert "organisations.town: unknown department 'parks'" in caught.value.detail


def test_custom_vocabulary_is_served(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.toml"
    vocab.write_text(
        '[measure_types]\nroad_renewal = { de = "Fahrbahnerneuerung", en = "Road renewal" }\n'
        '[departments.roads]\nde = "Straßenbau"\nen = "Roads"\nmeasure_types = ["road_renewal"]\n'
        '[organisations.town]\nde = "Musterstadt"\nen = "Sample town"\nkind = "city"\n'
        'departments = ["roads"]\n'
    )
    # A region with its own vocabulary brings rules that speak it.
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rules]]\nid = "two_roads"\nname = { de = "Zwei Straßen", en = "Two roads" }\n'
        'relation = "note"\nseverity = "low"\na = {}\nb = {}\nsame_department = true\n'
        'spatial = { test = "intersects" }\ntemporal = { test = "overlap" }\n'
        'message = { de = "{a.title} trifft {b.title}", en = "{a.title} meets {b.title}" }\n'
    )
    settings = {
        "instance_path": tmp_path / "instance",
        "vocabulary_file": vocab,
        "rules_file": rules,
    }
    app = create_app(settings)
    try:
        organisations = client_as(app, "r.admin").get("/api/vocab").get_json()["organisations"]
        assert [o["labels"]["de"] for o in organisations] == ["Musterstadt"]
    finally:
        app.extensions["zugabe"].close()


def test_cli_start_with_bad_setting_fails_with_message(tmp_path: Path) -> None:
    zugabe = Path(sys.executable).with_name("zugabe")
    result = subprocess.run(
        [str(zugabe), "--instance", str(tmp_path), "init"],
        env={"ZUGABE_STORAGE_CRS": "EPSG:4326", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "must be a projected CRS in metres" in result.stderr
    assert "Traceback" not in result.stderr
