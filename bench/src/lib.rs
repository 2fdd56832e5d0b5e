//! Shared pieces of xrelay's benchmarks: the scenario frames each path is
//! measured with, so the criterion benchmark and the instruction-count
//! harness measure the same bytes.
