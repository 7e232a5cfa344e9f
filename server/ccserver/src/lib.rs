//! The chat platform server: one binary, any set of roles.
