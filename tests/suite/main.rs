//! The integration test suite: one binary, one module per area.

mod audit;
mod context_cases;
mod eval_floors;
mod lexicons;
mod robust;
