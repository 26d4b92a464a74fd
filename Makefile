# The two commands: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
KBERT_DATA ?= $(abspath ../shared/data)
export KBERT_DATA
MODEL ?= models/all-MiniLM-L6-v2
KBERT := .build/release/kbert

.PHONY: setup build test demo bench bench-gemm bench-tokenizer golden clean

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
bench: bench-gemm bench-tokenizer

bench-gemm: build
	python3 tools/bench_gemm.py --kbert $(KBERT)

bench-tokenizer: build
	python3 tools/bench_tokenizer.py --kbert $(KBERT) --model $(MODEL)

# Regenerate the golden fixtures (needs `bash scripts/setup.sh --python`).
golden:
	python3 tools/gen_safetensors_golden.py
	python3 tools/gen_tokenizer_golden.py

clean:
	rm -rf .build
