//! EventBridge schedules, played locally: each `Type: Schedule` event of the template
//! invokes its function with a `Scheduled Event` every `rate(…)`, or every
//! `ALOFT_SCHEDULE_SECONDS` when that is set (so a local run need not wait a minute).

use std::time::Duration;

use aloft_provision::Schedule;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::Invoke;

/// Runs every schedule forever, one task each; `every` overrides their rates.
pub async fn run<I>(schedules: Vec<Schedule>, every: Option<Duration>, invoker: I)
where
    I: Invoke + Clone + Send + Sync + 'static,
{
    let mut tasks = JoinSet::new();
    for schedule in schedules {
        let invoker = invoker.clone();
        let period = every.unwrap_or(schedule.every);
        tasks.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // An interval's first tick is at once; a schedule's first run is a period in.
            ticks.tick().await;
            for n in 1_u64.. {
                ticks.tick().await;
                let binary = schedule.binary.as_str();
                match invoker.invoke(binary, scheduled_event(binary, n)).await {
                    Ok(answer) => tracing::info!(function = binary, %answer, "{binary}: scheduled run: {answer}"),
                    Err(e) => tracing::warn!(function = binary, error = %e, "{binary}: scheduled run failed: {e}"),
                }
            }
        });
    }
    while let Some(ended) = tasks.join_next().await {
        if let Err(e) = ended {
            tracing::error!(error = %e, "a schedule's task ended: {e}");
        }
    }
}

/// The event EventBridge sends a scheduled rule's target.
fn scheduled_event(binary: &str, n: u64) -> Value {
    json!({
        "version": "0",
        "id": format!("local-schedule-{binary}-{n}"),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": aloft_core::timestamp::now(),
        "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{binary}-schedule")],
        "detail": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_event_is_what_a_worker_recognises() {
        let event = scheduled_event("jobs-worker", 3);
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["source"], "aws.events");
        assert_eq!(event["id"], "local-schedule-jobs-worker-3");
    }
}
