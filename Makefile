# glrm developer entry points. Everything installs into .venv/ on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install test demo lint bench clean

install: $(STAMP)

# torch is installed first and pinned through constraints.txt, so no later step can
# swap the CPU wheel for a multi-gigabyte CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,plot]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Offline demo: score real chr20 variants with the small demo checkpoint (CPU, well under a minute).
DEMO    := examples/demo
demo: $(STAMP)
	@mkdir -p demo-out
	$(BIN)/glrm score-vcf -i $(DEMO)/demo.vcf.gz -f $(DEMO)/chr20_demo.fa.gz -m $(DEMO)/model --device cpu -o demo-out/demo.scored.vcf.gz --bed demo-out/demo.scored.bed
	@echo
	@echo "Scored VCF: demo-out/demo.scored.vcf.gz (+ .tbi)   BED: demo-out/demo.scored.bed   Scores: docs/scores.md"
	@echo "First records of the scored VCF (INFO gains GLRM_LLR, GLRM_MLR, GLRM_EMB, GLRM_STATUS):"
	@$(BIN)/python -c "import gzip, itertools; rows = (l for l in gzip.open('demo-out/demo.scored.vcf.gz', 'rt') if not l.startswith('##')); print(''.join(itertools.islice(rows, 6)), end='')"

lint: $(STAMP)
	$(BIN)/ruff check glrm tests benchmarks scripts

bench: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info demo-out
