//! Exit codes, the same for every command (SPEC §3).

/// Clean, allowed, all cases passed.
pub const OK: u8 = 0;
/// Findings at or above `--fail-on`, or a failing test case.
pub const FINDINGS: u8 = 1;
/// Usage or input error (the message names file:line or the reason).
pub const INPUT: u8 = 2;
/// Cluster unreachable or forbidden.
pub const CLUSTER: u8 = 3;
