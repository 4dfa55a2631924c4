"""Benchmarks: interleaved timings of both servers, statistics and the regression gate."""
