//! The engine's state machine (being written: see the engine branch).

use chrono::{DateTime, Utc};
use sluice_api::types::Workflow;

use super::{Action, Env, Observation};

#[derive(Debug)]
pub(crate) struct Engine {
    workflow: Workflow,
    env: Env,
}

impl Engine {
    pub(crate) fn new(mut workflow: Workflow, env: Env) -> Engine {
        let _ = super::compress::expand(&mut workflow);
        Engine { workflow, env }
    }

    pub(crate) fn step(
        &mut self,
        observations: Vec<Observation>,
        now: DateTime<Utc>,
    ) -> Vec<Action> {
        let _ = (&self.env, observations, now);
        unimplemented!("engine being written")
    }

    pub(crate) fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    pub(crate) fn into_workflow(self) -> Workflow {
        self.workflow
    }

    pub(crate) fn is_finished(&self) -> bool {
        super::phase::is_done(self.phase())
    }

    pub(crate) fn phase(&self) -> &str {
        self.workflow
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or(super::phase::PENDING)
    }
}
