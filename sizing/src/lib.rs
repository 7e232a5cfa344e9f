//! Pure sizing model: MAU/PCC and workload assumptions in, a complete topology plan out.
