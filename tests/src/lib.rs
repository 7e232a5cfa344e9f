//! End-to-end and real-service smoke tests of the whole platform; see `tests/`.
