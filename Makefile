# Convenience wrappers; the commands themselves need only python3 (see README).
.PHONY: run test lab smoke lint format strip
run:
	python3 tasks.py run
test:
	python3 tasks.py test
lab:
	python3 tasks.py lab
smoke:
	python3 tasks.py run --smoke
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .
strip:
	.venv/bin/nbstripout notebooks/*.ipynb
