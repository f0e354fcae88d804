# The course's two commands:   make course   (stack + JupyterLab)    make test   (the whole test suite)
PY := .venv/bin/python
VENV_STAMP := .venv/.installed-$(shell sha256sum requirements.txt | cut -c1-16)

.PHONY: course test start stop status logs install lint benchmark run-lessons eval

$(VENV_STAMP): requirements.txt
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
	rm -f .venv/.installed-* && touch $(VENV_STAMP)

install: $(VENV_STAMP)
	$(PY) -m stack install

start: $(VENV_STAMP)
	$(PY) -m stack start

stop: $(VENV_STAMP)
	$(PY) -m stack stop

status: $(VENV_STAMP)
	$(PY) -m stack status

logs: $(VENV_STAMP)
	$(PY) -m stack logs

course: start
	$(PY) -m stack.lab $(ARGS)

# Starts the stack if it is not running, runs every test and notebook, stops what it started.
test: $(VENV_STAMP)
	$(PY) -m stack with -- $(PY) -m pytest

# The course runner (starts the stack if needed), e.g.  make run-lessons ARGS="02 05 --model openai/gpt-4.1-mini"
run-lessons: $(VENV_STAMP)
	$(PY) -m stack with -- $(PY) -m runner $(ARGS)

lint: $(VENV_STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

benchmark: $(VENV_STAMP)
	$(PY) -m stack with -- $(PY) scripts/benchmark.py

# The agent behaviour evaluation alone (also part of `make benchmark`), e.g.  make eval ARGS="--model openai/gpt-4.1-mini"
eval: $(VENV_STAMP)
	$(PY) -m stack with -- $(PY) scripts/agent_eval.py $(ARGS)
