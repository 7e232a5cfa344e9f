//! End-to-end and real-service smoke tests of the whole platform; see `tests/`.
//!
//! The library holds what every test file shares: where the real services are (`services`).

pub mod services;
