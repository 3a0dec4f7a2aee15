//! Queue rules as pure functions: which transitions are allowed, how numbers look,
//! who is next, how long the wait is.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Waiting,
    Called,
    Serving,
    Done,
    NoShow,
    Cancelled,
    Transferred,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Called => "called",
            Status::Serving => "serving",
            Status::Done => "done",
            Status::NoShow => "no_show",
            Status::Cancelled => "cancelled",
            Status::Transferred => "transferred",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "waiting" => Status::Waiting,
            "called" => Status::Called,
            "serving" => Status::Serving,
            "done" => Status::Done,
            "no_show" => Status::NoShow,
            "cancelled" => Status::Cancelled,
            "transferred" => Status::Transferred,
            _ => return None,
        })
    }

    pub fn is_open(self) -> bool {
        matches!(self, Status::Waiting | Status::Called | Status::Serving)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What staff (or call-next) do to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Call,
    Recall,
    Start,
    Done,
    NoShow,
    Cancel,
    Transfer,
}

impl Action {
    /// Past participle for messages: "ticket A-001 is done and cannot be recalled".
    pub fn verb(self) -> &'static str {
        match self {
            Action::Call => "called",
            Action::Recall => "recalled",
            Action::Start => "started",
            Action::Done => "completed",
            Action::NoShow => "marked as no-show",
            Action::Cancel => "cancelled",
            Action::Transfer => "transferred",
        }
    }

    /// Name of the event this action records.
    pub fn event(self) -> &'static str {
        match self {
            Action::Call => "ticket.called",
            Action::Recall => "ticket.recalled",
            Action::Start => "ticket.started",
            Action::Done => "ticket.done",
            Action::NoShow => "ticket.no_show",
            Action::Cancel => "ticket.cancelled",
            Action::Transfer => "ticket.transferred",
        }
    }
}

/// The status a ticket moves to, or `None` when the action is not allowed from `from`.
pub fn transition(from: Status, action: Action) -> Option<Status> {
    use Status::*;
    match (from, action) {
        (Waiting, Action::Call) => Some(Called),
        (Called, Action::Recall) => Some(Called),
        (Called, Action::Start) => Some(Serving),
        (Serving, Action::Done) => Some(Done),
        (Called, Action::NoShow) => Some(NoShow),
        (Waiting | Called, Action::Cancel) => Some(Cancelled),
        (Waiting | Called | Serving, Action::Transfer) => Some(Transferred),
        _ => None,
    }
}

/// `A-001`; grows past three digits rather than wrapping, so numbers stay unique.
pub fn format_number(prefix: &str, seq: i64) -> String {
    format!("{prefix}-{seq:03}")
}

/// Sort key for call-next: earlier is called first. An appointment counts as if it
/// had arrived `head_start` earlier; everyone ages at the same rate, so a walk-in
/// waits at most `head_start` longer than an appointment that came at the same time.
pub fn call_order_key(arrived_at_ms: i64, appointment: bool, head_start: Duration) -> i64 {
    if appointment {
        arrived_at_ms.saturating_sub(head_start.as_millis() as i64)
    } else {
        arrived_at_ms
    }
}

/// Minutes until a visitor with `ahead` people before them is called, given the
/// typical service time and the number of open counters serving the concern.
pub fn estimate_wait_minutes(ahead: u32, avg_service_secs: f64, open_counters: u32) -> u32 {
    if ahead == 0 {
        return 0;
    }
    let counters = open_counters.max(1) as f64;
    ((ahead as f64) * avg_service_secs / counters / 60.0).ceil() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_transitions() {
        use Status::*;
        let all = [
            Waiting,
            Called,
            Serving,
            Done,
            NoShow,
            Cancelled,
            Transferred,
        ];
        let actions = [
            Action::Call,
            Action::Recall,
            Action::Start,
            Action::Done,
            Action::NoShow,
            Action::Cancel,
            Action::Transfer,
        ];
        let mut allowed = vec![];
        for s in all {
            for a in actions {
                if let Some(to) = transition(s, a) {
                    allowed.push(format!("{s} -{a:?}-> {to}"));
                }
            }
        }
        assert_eq!(
            allowed,
            [
                "waiting -Call-> called",
                "waiting -Cancel-> cancelled",
                "waiting -Transfer-> transferred",
                "called -Recall-> called",
                "called -Start-> serving",
                "called -NoShow-> no_show",
                "called -Cancel-> cancelled",
                "called -Transfer-> transferred",
                "serving -Done-> done",
                "serving -Transfer-> transferred",
            ]
        );
    }

    #[test]
    fn terminal_states_allow_nothing() {
        for s in [
            Status::Done,
            Status::NoShow,
            Status::Cancelled,
            Status::Transferred,
        ] {
            assert!(!s.is_open());
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(format_number("A", 1), "A-001");
        assert_eq!(format_number("B", 42), "B-042");
        assert_eq!(format_number("C", 1234), "C-1234");
    }

    #[test]
    fn appointments_get_a_bounded_head_start() {
        let h = Duration::from_secs(15 * 60);
        let walk_in = call_order_key(0, false, h);
        // An appointment arriving 10 minutes after the walk-in goes first ...
        assert!(call_order_key(10 * 60_000, true, h) < walk_in);
        // ... one arriving 20 minutes later does not: the walk-in has aged enough.
        assert!(call_order_key(20 * 60_000, true, h) > walk_in);
    }

    #[test]
    fn estimates() {
        assert_eq!(estimate_wait_minutes(0, 600.0, 2), 0);
        assert_eq!(estimate_wait_minutes(3, 600.0, 1), 30);
        assert_eq!(estimate_wait_minutes(3, 600.0, 2), 15);
        assert_eq!(estimate_wait_minutes(1, 61.0, 0), 2);
    }
}
