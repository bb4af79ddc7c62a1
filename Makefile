# One command each: `make demo` (set up + run the main job on harmless sample data),
# `make test` (set up + lint + type-check + tests). Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test setup bench bench-matching fuzz clean

$(STAMP): pyproject.toml setup.py src/consentry/hashindex/_mih.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,demo,nudenet,ray]'
	# reference watermark encoder for the provenance tests; --no-deps keeps torch out
	$(BIN)/python -m pip install --quiet --no-deps invisible-watermark==0.2.0
	# PDF reports (WeasyPrint, in the dev extra) need the Pango system library
	$(BIN)/python -c "import weasyprint" || { echo "PDF reports need Pango: apt-get install -y libpango-1.0-0 libpangoft2-1.0-0" >&2; exit 1; }
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	rm -rf demo/case
	$(BIN)/python scripts/build_demo_evidence.py demo/evidence
	# the evidence folder, and the small disk image beside it (built when mkfs.vfat/mtools exist)
	$(BIN)/consentry scan demo/evidence $$(test -f demo/laptop.img && echo demo/laptop.img) \
	  --case demo/case --examiner "Demo Examiner"
	for ref in demo/references/*.jpg; do \
	  name=$$(basename $$ref .jpg | tr _ ' '); \
	  $(BIN)/consentry person add --case demo/case --name "$$name" \
	    --consent demo/references/$$(basename $$ref .jpg).consent.json $$ref --examiner "Demo Examiner"; \
	done
	$(BIN)/consentry persons --case demo/case
	$(BIN)/consentry links --case demo/case
	# traces of creation found in the disk image's browser profile (the scan ran the pass)
	$(BIN)/consentry traces list --case demo/case
	$(BIN)/consentry audit verify --case demo/case
	$(BIN)/consentry case summary --case demo/case --json > demo/summary.json
	$(BIN)/consentry persons --case demo/case --json > demo/persons.json
	# the case workflow: three requests of E1, one of them past its deadline
	$(BIN)/consentry requests add --case demo/case --person E1 --kind interim_measure \
	  --asked-by "Victim (E1)" --owner "Case manager" \
	  --asked-at "$$(date -u -d '10 days ago' +%Y-%m-%dT09:00)" \
	  --detail "move the sharing student out of the victim's seminar group" --examiner "Demo Examiner"
	$(BIN)/consentry requests add --case demo/case --person E1 --kind disciplinary_review \
	  --asked-by "Advocate for E1" --owner "Conduct office" --examiner "Demo Examiner"
	$(BIN)/consentry requests update --case demo/case R0002 --status acknowledged \
	  --note "case opened" --examiner "Demo Examiner"
	$(BIN)/consentry requests add --case demo/case --person E1 --kind hash_pack \
	  --asked-by "Victim (E1)" --examiner "Demo Examiner"
	$(BIN)/consentry requests list --case demo/case
	# web app accounts (demo passwords: never use these on a real case)
	echo "demo-examiner-pass" | $(BIN)/consentry user add --case demo/case --role examiner \
	  --password-stdin --examiner "Demo Examiner" examiner
	echo "demo-advocate-pass" | $(BIN)/consentry user add --case demo/case --role advocate \
	  --person E1 --password-stdin --examiner "Demo Examiner" advocate
	$(BIN)/consentry report --case demo/case --format html --out demo/report.html --force \
	  --examiner "Demo Examiner" --requested-by "Demo Advocate" \
	  --purpose "Which images of which persons are in the demo evidence, and can it be proven?"
	@echo
	@echo "Demo case:    $(CURDIR)/demo/case   (store: demo/case/case.sqlite)"
	@echo "Summary JSON: $(CURDIR)/demo/summary.json   persons: $(CURDIR)/demo/persons.json"
	@echo "Report:       $(CURDIR)/demo/report.html   (open it in a browser; works offline)"
	@echo "Look around:  $(BIN)/consentry case problems --case demo/case"
	@echo "              $(BIN)/consentry audit show --case demo/case"
	@echo "Web app:      $(BIN)/consentry serve --case demo/case   then open http://127.0.0.1:8000/"
	@echo "              log in as examiner / demo-examiner-pass, or advocate / demo-advocate-pass (sees E1 only)"

test: $(STAMP)
	# Debian tools the disk-image tests build images with (best effort: apt-get as root)
	bash scripts/install_test_tools.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	# the layer contracts in pyproject.toml [tool.importlinter] (docs/architecture.md)
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -q
	# the built wheel alone, no extras, in a fresh virtualenv: starts and scans
	PYTHON=$(PYTHON) bash scripts/check_plain_install.sh

# Longer fuzzing of the per-file path than the test run's (FUZZ_EXAMPLES; docs/fuzzing.md).
# Inputs that broke the worker are kept in fuzz-findings/.
FUZZ_EXAMPLES ?= 50000
fuzz: $(STAMP)
	CONSENTRY_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) CONSENTRY_FUZZ_FINDINGS=fuzz-findings \
	  $(BIN)/pytest -q -p no:cacheprovider tests/test_fuzz_worker.py

bench: $(STAMP)
	$(BIN)/python bench/scan_throughput.py

# The matching service's PDQ index side by side with python-threatexchange's PDQIndex (about
# 13 minutes and 9 GB for pytx at 10M; SIZES=100000 takes a minute), then the whole service
SIZES ?= 100000,1000000,10000000
bench-matching: $(STAMP)
	$(BIN)/python bench/matching.py --sizes $(SIZES) \
	  --reload-size 1000000 --out bench/out/matching-$$(date -u +%Y%m%d).md
	$(BIN)/python bench/service_scale.py --n 100000 --n 1000000 --rebuilds 5

clean:
	rm -rf demo build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache fuzz-findings
