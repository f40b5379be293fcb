//! The integration test suite: one binary, one module per area.

mod context_cases;
mod lexicons;
mod robust;
