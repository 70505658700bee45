//! Recovery and verification.

/// What recovery looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Skipped snapshots.
    pub skipped: Vec<String>,
}
