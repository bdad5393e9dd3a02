# Two commands on a fresh machine:
#   make run    install, migrate, load demo data, serve http://127.0.0.1:8000
#   make test   install what the tests need and run the whole suite
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help run test lint clean

help:
	@echo "make run   - install Docket, load demo data and serve it on http://127.0.0.1:8000"
	@echo "make test  - install the test dependencies and run the whole test suite"

$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || "$$(bin/find-python)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.test: requirements-test.txt requirements.txt $(VENV)/.runtime
	$(PY) -m pip install -q -r requirements-test.txt
	@touch $@

run: $(VENV)/.runtime
	DEBUG=true DOCKET_TASK_BACKEND=immediate DATABASE_URL= $(PY) manage.py migrate --noinput
	DEBUG=true DOCKET_TASK_BACKEND=immediate DATABASE_URL= $(PY) manage.py seed_demo
	@echo "Docket is starting on http://127.0.0.1:8000 (Ctrl-C stops it)"
	@echo "Demo only: two-factor sign-in is optional for every role (DOCKET_REQUIRE_2FA=false)"
	DEBUG=true DOCKET_TASK_BACKEND=immediate DOCKET_REQUIRE_2FA=false DATABASE_URL= $(PY) manage.py runserver 127.0.0.1:8000

test: $(VENV)/.test
	@bin/ensure-chromium --best-effort
	$(PY) -m pytest

# mypy checks the apps listed in pyproject.toml; django-stubs' plugin imports the
# settings, and these two values only let them load.
lint: $(VENV)/.test
	$(VENV)/bin/ruff check .
	DEBUG=true SECRET_KEY=mypy-only-not-secret $(VENV)/bin/mypy

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
