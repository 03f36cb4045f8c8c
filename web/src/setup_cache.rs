//! apppass.conf's device settings as apppassd gives them to anyone, kept
//! for a minute: autoconfig is asked without a sign-in, and each request
//! must not cost apppassd a process of its own.

use crate::app::{ask, Shared};
use crate::error::AppError;
use apppass_core::setup::DeviceSetup;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub const KEPT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct SetupCache {
    // A tokio lock, held while apppassd is asked: requests that arrive
    // meanwhile wait for that answer instead of asking again.
    last: Mutex<Option<(Instant, Arc<DeviceSetup>)>>,
}

impl SetupCache {
    pub async fn get(app: &Shared) -> Result<Arc<DeviceSetup>, AppError> {
        let mut last = app.setup_cache.last.lock().await;
        if let Some((at, setup)) = last.as_ref() {
            if at.elapsed() < KEPT {
                return Ok(setup.clone());
            }
        }
        let setup = Arc::new(ask(app, |d| d.setup()).await?);
        *last = Some((Instant::now(), setup.clone()));
        Ok(setup)
    }
}
