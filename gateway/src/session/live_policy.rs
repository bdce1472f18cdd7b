//! The policy in force on this node: loaded with the configuration at start, replaced on
//! SIGHUP only by a policy that validates (an invalid one is refused, said in the log and
//! the audit log, and the last good one stays). Readers take a cheap snapshot per decision.

use std::sync::{Arc, RwLock};

use policy::Policy;

/// Shared handle to the policy in force.
#[derive(Clone)]
pub struct SharedPolicy(Arc<RwLock<Arc<Policy>>>);

impl SharedPolicy {
    /// Starts with `policy`.
    pub fn new(policy: Policy) -> SharedPolicy {
        SharedPolicy(Arc::new(RwLock::new(Arc::new(policy))))
    }

    /// The policy now.
    pub fn current(&self) -> Arc<Policy> {
        match self.0.read() {
            Ok(p) => p.clone(),
            // A writer panicked mid-swap; the value is still a whole Arc.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `policy` in force.
    pub fn replace(&self, policy: Policy) {
        let next = Arc::new(policy);
        match self.0.write() {
            Ok(mut p) => *p = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}
