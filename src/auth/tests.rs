//! Table-driven tests of the decision, one row per line of the contract.
