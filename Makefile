# The README's two commands: `make run` and `make test`. Everything else here
# is what they need, plus a few conveniences for developers.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-dev system-packages browser gdal oidc qgis production postgis lint format sample-data bench clean

# A demo instance: the demo accounts' passwords are printed once by `zugabe demo`, and
# only an instance with demo_instance set starts while they are in use.
run: install system-packages  ## create the venv, load the demo town, serve on http://127.0.0.1:5000
	$(BIN)/zugabe init
	$(BIN)/zugabe demo --source sample_data
	ZUGABE_DEMO_INSTANCE=true $(BIN)/zugabe serve

test: install-dev system-packages browser gdal oidc qgis production postgis  ## lint and run the whole test suite, browser tests included
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest
	$(BIN)/pytest --store=postgis $(API_TESTS)

# The API tests that run a second time against PostGIS (`--store=postgis`; the storage
# contract and the CQL2 filters run against both stores in the first pass): 60 to 120 s more.
API_TESTS := tests/test_api_projects.py tests/test_api_cases.py tests/test_api_layers.py \
             tests/test_ogc_api.py tests/test_checklists.py tests/test_good_practice.py \
             tests/test_strategies.py

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed

# Debian packages the project uses when present: proj-data brings the BETA2007
# grid for accurate Gauss-Krüger (DHDN) imports. Installed when we may (root
# with apt), else named, so `make run` still works without it.
SYSTEM_PACKAGES := proj-data
SYSTEM_FILES    := /usr/share/proj/BETA2007.gsb

system-packages:
	@missing=""; for f in $(SYSTEM_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(SYSTEM_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "note: install the Debian packages $(SYSTEM_PACKAGES) (missing:$$missing)"; \
	  fi; \
	fi

# The browser tests (tests/browser) drive Debian's chromium with Playwright
# (executable_path): Playwright's own browser download does not work here.
# Installed when we may (root with apt), else named; the tests then fail with
# the same advice rather than skip, so CI never passes without them.
# fonts-dejavu-extra: DejaVu Sans Condensed, the type of the reports' printed tables (the
# print test counts A4 pages with it).
BROWSER_PACKAGES := chromium fonts-dejavu-core fonts-dejavu-extra
BROWSER_FILES    := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
                    /usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf

# After system-packages, so that `make -j test` never runs two apt-gets at once.
browser: system-packages
	@missing=""; command -v chromium >/dev/null || missing=" chromium"; \
	for f in $(BROWSER_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(BROWSER_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null; \
	  else \
	    echo "note: install the Debian packages $(BROWSER_PACKAGES) for the browser tests (missing:$$missing)"; \
	  fi; \
	fi

# The export tests read the GeoPackage back with GDAL's own ogrinfo, and the export
# benchmark times ogr2ogr: Debian's gdal-bin. Installed when we may (root with apt), else
# named; the tests then fail with the same advice rather than skip.
GDAL_PACKAGES := gdal-bin
GDAL_FILES    := /usr/bin/ogrinfo /usr/bin/ogr2ogr

# After browser, so that `make -j test` never runs two apt-gets at once.
gdal: browser
	@missing=""; for f in $(GDAL_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(GDAL_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(GDAL_PACKAGES) >/dev/null; \
	  else \
	    echo "note: install the Debian packages $(GDAL_PACKAGES) for the export tests and benchmark (missing:$$missing)"; \
	  fi; \
	fi

# The single sign-on tests run a real OpenID Connect provider: npm's oidc-provider on
# Debian's node (tests/oidc, pinned by its package-lock.json). node and npm are installed
# when we may (root with apt), else named; the tests then fail with the same advice.
OIDC_PACKAGES := nodejs npm

# After gdal, so that `make -j test` never runs two apt-gets at once.
oidc: gdal
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(OIDC_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(OIDC_PACKAGES) >/dev/null; \
	  else \
	    echo "note: install the Debian packages $(OIDC_PACKAGES) for the single sign-on tests"; \
	  fi; \
	fi
	@if command -v npm >/dev/null && [ ! -d tests/oidc/node_modules/oidc-provider ]; then \
	  cd tests/oidc && npm ci --no-audit --no-fund --silent; \
	fi

# The OGC API tests load ZUGABE's collections in QGIS through its OAPIF provider
# (tests/test_ogc_qgis.py, tests/qgis/), run by Debian's /usr/bin/python3 offscreen:
# python3-qgis brings the QGIS libraries and qgis-providers (OAPIF among them), no desktop.
# Installed when we may (root with apt), else named; the tests then fail with the same
# advice rather than skip.
QGIS_PACKAGES := python3-qgis qgis-providers
QGIS_FILES    := /usr/lib/python3/dist-packages/qgis/core/__init__.py

# After oidc, so that `make -j test` never runs two apt-gets at once.
qgis: oidc
	@missing=""; for f in $(QGIS_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(QGIS_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(QGIS_PACKAGES) >/dev/null; \
	  else \
	    echo "note: install the Debian packages $(QGIS_PACKAGES) for the QGIS tests (missing:$$missing)"; \
	  fi; \
	fi

# The production test (tests/test_production.py) runs the shipped deploy/ files with the
# real programs: Debian's nginx in front of `zugabe serve` (a certificate made by openssl),
# systemd-analyze checking the unit, sqlite3 making the documented backup. Installed when we may (root with apt), else named;
# the tests then fail with the same advice rather than skip. On a machine that runs
# systemd, installing nginx also starts Debian's default site on port 80.
PRODUCTION_PACKAGES := nginx openssl systemd sqlite3
PRODUCTION_FILES    := /usr/sbin/nginx /usr/bin/openssl /usr/bin/systemd-analyze \
                       /usr/bin/sqlite3

# After qgis, so that `make -j test` never runs two apt-gets at once.
production: qgis
	@missing=""; for f in $(PRODUCTION_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(PRODUCTION_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PRODUCTION_PACKAGES) >/dev/null; \
	  else \
	    echo "note: install the Debian packages $(PRODUCTION_PACKAGES) for the production test (missing:$$missing)"; \
	  fi; \
	fi

# The PostGIS store's tests (tests/test_storage_postgis.py, the API tests' PostGIS pass) start
# a throw-away PostgreSQL 15 + PostGIS 3 cluster of their own (zugabe/devtools/pg_cluster.py):
# Debian's server packages. Installed when we may (root with apt), else named; the tests then
# fail with the same advice rather than skip.
POSTGIS_PACKAGES := postgresql-15 postgresql-15-postgis-3
POSTGIS_FILES    := /usr/lib/postgresql/15/bin/postgres \
                    /usr/share/postgresql/15/extension/postgis.control

# After production, so that `make -j test` never runs two apt-gets at once.
postgis: production
	@missing=""; for f in $(POSTGIS_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(POSTGIS_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(POSTGIS_PACKAGES) >/dev/null; \
	  else \
	    echo "note: install the Debian packages $(POSTGIS_PACKAGES) for the PostGIS tests (missing:$$missing)"; \
	  fi; \
	fi

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-bench gdal browser  ## run the benchmarks (minutes; installs PostGIS when root)
	$(BIN)/python bench/bench_layer_import.py
	$(BIN)/python bench/bench_detection.py
	$(BIN)/python bench/bench_save_http.py
	$(BIN)/python bench/bench_map_render.py
	$(BIN)/python bench/bench_export.py
	$(BIN)/python bench/bench_inbox.py

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $@ $(VENV)/.installed $(VENV)/.installed-dev

sample-data: install  ## regenerate sample_data/ (deterministic)
	$(BIN)/python -m zugabe.demo.town sample_data

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts
