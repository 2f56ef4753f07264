//! Topic name rules, as Kafka enforces them (`Topic.validate`).

/// Kafka's maximum topic name length.
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

/// Why a topic name is refused.
pub fn topic_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("topic name is empty");
    }
    if name == "." || name == ".." {
        return Some("topic name cannot be '.' or '..'");
    }
    if name.len() > TOPIC_NAME_LENGTH_MAX {
        return Some("topic name is longer than 249 characters");
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-';
    if !name.chars().all(legal) {
        return Some("topic name may contain only ASCII alphanumerics, '.', '_' and '-'");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects_like_kafka() {
        assert_eq!(topic_name_problem("orders.v1_x-y"), None);
        assert!(topic_name_problem("").is_some());
        assert!(topic_name_problem("..").is_some());
        assert!(topic_name_problem("a b").is_some());
        assert!(topic_name_problem(&"a".repeat(250)).is_some());
        assert_eq!(topic_name_problem(&"a".repeat(249)), None);
    }
}
