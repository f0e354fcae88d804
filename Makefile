# The course's two commands:   make course   (stack + JupyterLab)    make test   (the whole test suite)
PY := .venv/bin/python
# pyproject.toml too: it lists the packages the editable install maps into .venv
VENV_STAMP := .venv/.installed-$(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
MERMAID := tests/mermaid/node_modules/.package-lock.json

.PHONY: course test start stop status logs venv install lint benchmark run-lessons eval site

$(VENV_STAMP): requirements.txt pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check $$(grep '^uv==' requirements.txt)
	.venv/bin/uv pip install -q --python .venv/bin/python -r requirements.txt $$(for d in $$PIP_FIND_LINKS; do echo --find-links $$d; done)
	$(PY) -m course.typescript_kernel
	rm -f .venv/.installed-* && touch $(VENV_STAMP)

# Mermaid itself, to parse the lessons' diagrams in the tests (about 15 s, 170 MB in tests/mermaid/node_modules).
$(MERMAID): tests/mermaid/package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js 20+ and npm, to parse the lessons' Mermaid diagrams (Debian: apt install nodejs npm)"; exit 1; }
	npm ci --prefix tests/mermaid --no-audit --no-fund --loglevel=error

# The notebooks' environment alone (a workshop attendee needs no stack of their own)
venv: $(VENV_STAMP)

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
test: $(VENV_STAMP) $(MERMAID)
	$(PY) -m stack with -- $(PY) -m pytest

# The course site from the last course run (`make test` builds and checks it too): output/site/
site: $(VENV_STAMP) $(MERMAID)
	$(PY) -m runner.course_site $(ARGS)

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
