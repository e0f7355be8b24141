//! What `/status` says about the fleet control plane (NATS): connected or
//! not, the fleet generation applied and the last outcome. The control
//! plane (`crate::control`, a layer above) writes it; the admin listener
//! reads it. `null` in `/status` for a node that is not in a NATS fleet.

use std::sync::Mutex;

use serde::Serialize;

/// The control plane's view, as shown in `/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ControlState {
    /// The fleet's name.
    pub fleet: String,
    /// `connected` or `disconnected`.
    pub nats: &'static str,
    /// The fleet generation this node serves (0: none yet).
    pub generation: u64,
    /// Short hash of that generation's fleet-wide config.
    pub config_hash: String,
    /// The last outcome: `applied N` or `refused: <error>`.
    pub last: Option<String>,
}

/// Shared slot for [`ControlState`].
#[derive(Debug, Default)]
pub struct ControlStatus {
    state: Mutex<Option<ControlState>>,
}

impl ControlStatus {
    /// Changes the state (the node joins a fleet on first call).
    pub fn update(&self, f: impl FnOnce(&mut ControlState)) {
        let mut slot = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(slot.get_or_insert_with(ControlState::default));
    }

    /// The state now, `None` outside a NATS fleet.
    pub fn get(&self) -> Option<ControlState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `control` object of `/status`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self.get()).unwrap_or(serde_json::Value::Null)
    }
}
