//! The event hub: who on this instance listens to what, and the events
//! from this instance and the others. (Scaffolding: nothing is published
//! yet; the streams wait forever.)

/// This instance's subscribers, by what they listen to.
#[derive(Default)]
pub struct Hub {}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }
}
