"""`make bench` and `make soak`: run as modules (`python -m benchmarks.run`) from the repo root."""
