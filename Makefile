# glrm developer entry points. Everything installs into .venv/ on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install test demo lint bench clean

install: $(STAMP)

# torch 2.13.0 is installed first, from TORCH_INDEX if set, and then pinned through constraints.txt, so no later
# step can swap it for another build. Which build it is depends on the index: from PyPI on Linux it is the CUDA
# build (about 2.7 GB with its NVIDIA wheels); TORCH_INDEX=https://download.pytorch.org/whl/cpu takes the
# CPU-only build (about 190 MB). Empty (the default): pip's configured index, which on this project's machines
# offers a local copy of the CPU wheel. It matters only while .venv/ has no torch (a fresh clone, `make clean`).
TORCH_INDEX ?=
TORCH_PIP   := $(if $(strip $(TORCH_INDEX)),--index-url $(strip $(TORCH_INDEX)))

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0 $(TORCH_PIP)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,plot]'
	$(BIN)/python -m glrm.models.cpu_kernels  # optional CPU scan kernel; a failed build only warns
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Offline demo: score real chr20 variants with the small demo checkpoint (CPU, about a minute on 2 cores).
DEMO    := examples/demo
demo: $(STAMP)
	@mkdir -p demo-out
	$(BIN)/glrm score-vcf -i $(DEMO)/demo.vcf.gz -f $(DEMO)/chr20_demo.fa.gz -m $(DEMO)/model --device cpu -o demo-out/demo.scored.vcf.gz --bed demo-out/demo.scored.bed
	@echo
	@echo "Scored VCF: demo-out/demo.scored.vcf.gz (+ .tbi)   BED: demo-out/demo.scored.bed   Scores: docs/scores.md"
	@echo "First records of the scored VCF (INFO gains GLRM_LLR, GLRM_CLLR, GLRM_MLR, GLRM_EMB, GLRM_STATUS):"
	@$(BIN)/python -c "import gzip, itertools; rows = (l for l in gzip.open('demo-out/demo.scored.vcf.gz', 'rt') if not l.startswith('##')); print(''.join(itertools.islice(rows, 6)), end='')"

lint: $(STAMP)
	$(BIN)/ruff check glrm tests benchmarks scripts

# Benchmarks print figures only (benchmarks/README.md). Quick settings by default (a few minutes on 2 cores);
# `make bench FULL=1` runs the full sweeps (over an hour on 2 cores).
ifeq ($(FULL),1)
BENCH_ARGS_tile     :=
BENCH_ARGS_scaling  := --threads 1
BENCH_ARGS_compile  :=
BENCH_ARGS_hyenadna := --large
BENCH_ARGS_cad1m    := --sweep
BENCH_ARGS_sv1m     := --random-caduceus 128,4
BENCH_ARGS_prefix   :=
BENCH_ARGS_batch    :=
BENCH_ARGS_floor    := --reference
BENCH_ARGS_hap      :=
else
BENCH_ARGS_tile     := --bases 4000 --sample 10 --mamba
BENCH_ARGS_scaling  := --quick
BENCH_ARGS_compile  := --models hyenadna --modes default --repeat 3
BENCH_ARGS_hyenadna :=
BENCH_ARGS_cad1m    := --lengths 16384 --d-model 128 --layers 2
BENCH_ARGS_sv1m     :=
BENCH_ARGS_prefix   := --quick
BENCH_ARGS_batch    := --windows 4096 --repeat 2
BENCH_ARGS_floor    := --quick
BENCH_ARGS_hap      := --quick
endif
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_tile.py $(BENCH_ARGS_tile)
	$(BIN)/python benchmarks/bench_scaling.py $(BENCH_ARGS_scaling)
	$(BIN)/python benchmarks/bench_compile.py $(BENCH_ARGS_compile)
	$(BIN)/python benchmarks/bench_hyenadna.py $(BENCH_ARGS_hyenadna)
	$(BIN)/python benchmarks/bench_caduceus_1m.py $(BENCH_ARGS_cad1m)
	$(BIN)/python benchmarks/bench_scan.py
	$(BIN)/python benchmarks/bench_sv_1m.py $(BENCH_ARGS_sv1m)
	$(BIN)/python benchmarks/bench_prefix.py $(BENCH_ARGS_prefix)
	$(BIN)/python benchmarks/bench_batch.py $(BENCH_ARGS_batch)
	$(BIN)/python benchmarks/bench_floor.py $(BENCH_ARGS_floor)
	$(BIN)/python benchmarks/bench_scan_kernel.py
	$(BIN)/python benchmarks/bench_haplotypes.py $(BENCH_ARGS_hap)
	$(BIN)/python benchmarks/bench_gpu.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info demo-out
