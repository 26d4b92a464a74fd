# The two commands: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
KBERT_DATA ?= $(abspath ../shared/data)
export KBERT_DATA
MODEL ?= models/all-MiniLM-L6-v2
KBERT := .build/release/kbert

.PHONY: setup build test demo bench bench-gemm bench-tokenizer bench-forward bench-train bench-compress bench-grouping golden finetune-all clean

setup:
	@bash scripts/setup.sh

build: setup
	swift build -c release --product kbert

test: setup
	swift build --build-tests -c release -Xswiftc -enable-testing
	swift test --skip-build -c release -Xswiftc -enable-testing

demo: build
	@bash scripts/demo.sh

# Benchmarks (not tests): ratios against baselines measured in the same run.
# Needs the pinned Python packages: bash scripts/setup.sh --python
bench: bench-gemm bench-tokenizer bench-forward bench-train bench-compress bench-grouping

bench-gemm: build
	python3 tools/bench_gemm.py --kbert $(KBERT)

bench-tokenizer: build
	python3 tools/bench_tokenizer.py --kbert $(KBERT) --model $(MODEL)

bench-forward: build
	python3 tools/bench_forward.py --kbert $(KBERT)

bench-train: build
	python3 tools/bench_train.py --kbert $(KBERT)

bench-compress: build
	python3 tools/bench_compress.py --kbert $(KBERT)

bench-grouping: build
	python3 tools/bench_grouping.py --kbert $(KBERT) --model $(MODEL)

# Fine-tune the five GLUE teachers with kbert and the PyTorch reference (long; see README).
finetune-all: build
	bash scripts/finetune_all.sh --ref
	python3 tools/finetune_table.py

# Regenerate the golden fixtures (needs `bash scripts/setup.sh --python`).
golden:
	python3 tools/gen_safetensors_golden.py
	python3 tools/gen_tokenizer_golden.py
	python3 tools/gen_bert_golden.py
	python3 tools/gen_train_golden.py
	python3 tools/gen_metric_golden.py
	python3 tools/gen_distill_golden.py

clean:
	rm -rf .build
