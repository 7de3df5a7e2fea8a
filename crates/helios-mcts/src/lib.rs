//! Monte Carlo Tree Search whose states are engine snapshots and whose reward includes the engine's own cost. Filled by the MCTS issue.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
