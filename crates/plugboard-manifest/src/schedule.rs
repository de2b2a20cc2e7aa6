//! `[[schedules]]`: tasks the host runs on a timetable, and when each is next due.
//!
//! A cron expression has five fields (minute, hour, day of month, month, day of week), or
//! six with seconds first, as croner reads them (`L`, `W`, `#` and nicknames such as
//! `@daily` included). It is read in UTC unless the entry names an IANA time zone, so
//! `0 9 * * 1-5` with `timezone = "Europe/Berlin"` runs at nine in Berlin, summer and
//! winter. An `every` interval counts from the previous due time, so its runs do not
//! drift by how long each one took.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::parse::{RawSchedule, Reporter, is_simple_name};

/// When a scheduled task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A cron expression, read in `timezone` (`None`: UTC).
    Cron {
        /// The expression as written.
        expression: String,
        /// An IANA time zone name such as `Europe/Berlin`.
        timezone: Option<String>,
    },
    /// A fixed interval, counted from the previous due time.
    Every(Duration),
}

/// A task the host runs on a schedule, once per due time (once per cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Task name passed to `scheduler.run-task`.
    pub name: String,
    /// When it runs.
    pub trigger: Trigger,
    /// Whether a due time missed while the server was down (or the plugin disabled) is
    /// made up for with one run as soon as the task can run again.
    pub catch_up: bool,
    /// The task's own deadline, longer than the plugin's per-call deadline; the operator's
    /// ceiling for tasks caps it.
    pub deadline: Option<Duration>,
}

/// A schedule whose next due time cannot be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task `{task}`: {message}")]
pub struct ScheduleError {
    /// The task.
    pub task: String,
    /// What went wrong.
    pub message: String,
}

impl Schedule {
    /// The first due time strictly after `after_ms` (milliseconds since the Unix epoch).
    ///
    /// For `every`, due times lie on the grid `anchor_ms + k × interval`; `anchor_ms` is a
    /// previous due time (or when the task was first seen), so a restart or a late run
    /// does not shift the grid.
    pub fn next_due_after(&self, after_ms: i64, anchor_ms: i64) -> Result<i64, ScheduleError> {
        match &self.trigger {
            Trigger::Every(interval) => {
                let step = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX).max(1);
                if anchor_ms > after_ms {
                    return Ok(anchor_ms);
                }
                let steps = (after_ms - anchor_ms) / step + 1;
                Ok(anchor_ms.saturating_add(steps.saturating_mul(step)))
            }
            Trigger::Cron { expression, timezone } => {
                let cron: croner::Cron = expression.parse().map_err(|error| self.error(format!("{error}")))?;
                let after = Utc
                    .timestamp_millis_opt(after_ms)
                    .single()
                    .ok_or_else(|| self.error(format!("{after_ms} ms is not a time")))?;
                let next = match timezone {
                    None => cron.find_next_occurrence(&after, false).map(|next| next.timestamp_millis()),
                    Some(name) => {
                        let zone: chrono_tz::Tz =
                            name.parse().map_err(|_| self.error(format!("`{name}` is not a time zone")))?;
                        cron.find_next_occurrence(&after.with_timezone(&zone), false)
                            .map(|next: DateTime<chrono_tz::Tz>| next.timestamp_millis())
                    }
                };
                next.map_err(|error| self.error(format!("no next time for `{expression}` ({error})")))
            }
        }
    }

    /// The schedule in words, such as `every 15m` or `cron 0 3 * * * (Europe/Berlin)`. Two
    /// schedules with the same description run at the same times.
    pub fn describe(&self) -> String {
        match &self.trigger {
            Trigger::Every(interval) => format!("every {}", humantime::format_duration(*interval)),
            Trigger::Cron { expression, timezone } => {
                format!("cron {expression} ({})", timezone.as_deref().unwrap_or("UTC"))
            }
        }
    }

    fn error(&self, message: String) -> ScheduleError {
        ScheduleError { task: self.name.clone(), message }
    }
}

impl serde::Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Schedule", 6)?;
        out.serialize_field("name", &self.name)?;
        match &self.trigger {
            Trigger::Cron { expression, timezone } => {
                out.serialize_field("cron", expression)?;
                out.serialize_field("timezone", timezone.as_deref().unwrap_or("UTC"))?;
            }
            Trigger::Every(interval) => {
                out.serialize_field("every", &humantime::format_duration(*interval).to_string())?;
            }
        }
        out.serialize_field("catch_up", &self.catch_up)?;
        out.serialize_field("deadline_ms", &self.deadline.map(|deadline| deadline.as_millis() as u64))?;
        out.serialize_field("description", &self.describe())?;
        out.end()
    }
}

/// Reads `[[schedules]]`, reporting every problem with its field.
pub(crate) fn parse_schedules(raw: Vec<RawSchedule>, reporter: &mut Reporter) -> Vec<Schedule> {
    let mut schedules = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, schedule) in raw.into_iter().enumerate() {
        let field = format!("schedules[{index}]");
        if !is_simple_name(&schedule.name) {
            reporter.error(
                &format!("{field}.name"),
                format!("`{}` is not a task name", schedule.name),
                "use lower-case letters, digits, `-` and `_`, starting with a letter",
            );
        }
        if !seen.insert(schedule.name.clone()) {
            reporter.error(
                &format!("{field}.name"),
                format!("task `{}` is declared twice", schedule.name),
                "give each task its own name",
            );
        }
        let deadline = schedule.deadline.and_then(|deadline| match humantime::parse_duration(&deadline) {
            Ok(deadline) if deadline >= Duration::from_millis(10) => Some(deadline),
            Ok(_) => {
                reporter.error(
                    &format!("{field}.deadline"),
                    format!("`{deadline}` is shorter than 10 ms"),
                    "give the task time to run, such as `\"2m\"`",
                );
                None
            }
            Err(error) => {
                reporter.error(
                    &format!("{field}.deadline"),
                    format!("`{deadline}` is not a duration ({error})"),
                    "use a duration such as `\"30s\"` or `\"5m\"`",
                );
                None
            }
        });
        let trigger = parse_trigger(&field, schedule.cron, schedule.every, schedule.timezone, reporter);
        if let Some(trigger) = trigger {
            schedules.push(Schedule {
                name: schedule.name,
                trigger,
                catch_up: schedule.catch_up.unwrap_or(false),
                deadline,
            });
        }
    }
    schedules
}

fn parse_trigger(
    field: &str,
    cron: Option<String>,
    every: Option<String>,
    timezone: Option<String>,
    reporter: &mut Reporter,
) -> Option<Trigger> {
    match (cron, every) {
        (Some(cron), None) => {
            let zone_ok = match &timezone {
                Some(name) if name.parse::<chrono_tz::Tz>().is_err() => {
                    reporter.error(
                        &format!("{field}.timezone"),
                        format!("`{name}` is not a time zone"),
                        "use an IANA name such as `\"Europe/Berlin\"` or `\"America/New_York\"`, or leave it out for UTC",
                    );
                    false
                }
                _ => true,
            };
            match cron.parse::<croner::Cron>() {
                Ok(_) if zone_ok => Some(Trigger::Cron { expression: cron, timezone }),
                Ok(_) => None,
                Err(error) => {
                    reporter.error(
                        &format!("{field}.cron"),
                        format!("`{cron}` is not a cron expression ({error})"),
                        "use five fields (minute hour day month weekday), such as `\"0 3 * * *\"`, or six with seconds first",
                    );
                    None
                }
            }
        }
        (None, Some(every)) => {
            if timezone.is_some() {
                reporter.error(
                    &format!("{field}.timezone"),
                    "an `every` interval has no time zone",
                    "remove `timezone`, or use `cron` for times of day",
                );
            }
            match humantime::parse_duration(&every) {
                Ok(interval) if interval >= Duration::from_secs(1) => Some(Trigger::Every(interval)),
                Ok(_) => {
                    reporter.error(
                        &format!("{field}.every"),
                        format!("`{every}` is shorter than one second"),
                        "use an interval of at least `1s`",
                    );
                    None
                }
                Err(error) => {
                    reporter.error(
                        &format!("{field}.every"),
                        format!("`{every}` is not an interval ({error})"),
                        "use a duration such as `\"15m\"` or `\"1h 30m\"`",
                    );
                    None
                }
            }
        }
        _ => {
            reporter.error(
                field,
                "needs exactly one of `cron` and `every`",
                "add `cron = \"0 3 * * *\"` or `every = \"15m\"`",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(trigger: Trigger) -> Schedule {
        Schedule { name: "task".into(), trigger, catch_up: false, deadline: None }
    }

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).map(|time| time.timestamp_millis()).unwrap_or_default()
    }

    #[test]
    fn an_interval_keeps_to_its_grid() {
        let every = schedule(Trigger::Every(Duration::from_secs(60)));
        assert_eq!(every.next_due_after(1_000, 1_000), Ok(61_000));
        assert_eq!(every.next_due_after(60_999, 1_000), Ok(61_000));
        assert_eq!(every.next_due_after(61_000, 1_000), Ok(121_000));
        // A late look does not shift the grid.
        assert_eq!(every.next_due_after(250_000, 1_000), Ok(301_000));
        // An anchor still ahead is the next due time.
        assert_eq!(every.next_due_after(500, 1_000), Ok(1_000));
    }

    #[test]
    fn cron_reads_utc_unless_told_a_zone() {
        let utc = schedule(Trigger::Cron { expression: "0 9 * * *".into(), timezone: None });
        assert_eq!(utc.next_due_after(ms("2026-07-01T10:00:00Z"), 0), Ok(ms("2026-07-02T09:00:00Z")));
        let berlin = schedule(Trigger::Cron { expression: "0 9 * * *".into(), timezone: Some("Europe/Berlin".into()) });
        // Nine in Berlin is seven UTC in summer and eight in winter.
        assert_eq!(berlin.next_due_after(ms("2026-07-01T10:00:00Z"), 0), Ok(ms("2026-07-02T07:00:00Z")));
        assert_eq!(berlin.next_due_after(ms("2026-12-01T10:00:00Z"), 0), Ok(ms("2026-12-02T08:00:00Z")));
    }

    #[test]
    fn six_fields_put_seconds_first() {
        let every_ten = schedule(Trigger::Cron { expression: "*/10 * * * * *".into(), timezone: None });
        assert_eq!(every_ten.next_due_after(ms("2026-07-01T10:00:03Z"), 0), Ok(ms("2026-07-01T10:00:10Z")));
        // Strictly after: a due time is never returned twice.
        assert_eq!(every_ten.next_due_after(ms("2026-07-01T10:00:10Z"), 0), Ok(ms("2026-07-01T10:00:20Z")));
    }

    #[test]
    fn descriptions_tell_schedules_apart() {
        let every = schedule(Trigger::Every(Duration::from_secs(90)));
        assert_eq!(every.describe(), "every 1m 30s");
        let cron = schedule(Trigger::Cron { expression: "0 3 * * *".into(), timezone: None });
        assert_eq!(cron.describe(), "cron 0 3 * * * (UTC)");
    }
}
