# Operator shortcuts; each target is a script in scripts/ you can also run directly.
.PHONY: demo test venv

demo:   ## set up .venv and run the demo on the embedded defaults
	scripts/demo.sh

test:   ## lint, type-check and run every test (starts PostgreSQL if it is not running)
	scripts/test.sh

venv:   ## (re)install the virtual environment with the test tools (production: scripts/bootstrap.sh)
	scripts/bootstrap.sh --dev
