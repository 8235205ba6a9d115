"""The test suite."""

import os

# oneDNN's AMX bf16 kernels (Intel CPUs with amx_bf16, e.g. Sapphire Rapids) return NaN for a bf16 forward that
# follows fp32 work in the same process (PyTorch 2.14.1; measured on this project's Intel Xeon CI machine: the
# bf16 tests pass alone and fail after any fp32 test). Capped one level below AMX, every CPU runs the same tests;
# `make test-kernels` sets its own caps. README: docs/operations.md#kernel-sets.
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")

# `make test` runs one pytest worker per core, each training with `training.num_threads` threads: OpenMP threads
# that spin while waiting would take the other workers' cores (measured on 2 cores, 42 tests: 571 s of CPU with
# spinning, 387 s without; 341 s -> 238 s wall). Waiting threads sleep instead; results are unchanged.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
