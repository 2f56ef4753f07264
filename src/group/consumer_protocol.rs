//! Just enough of the "consumer" embedded protocol (ConsumerProtocol
//! Subscription) to know which topics a group subscribes to — for
//! OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC. The broker never interprets
//! other protocol types: Kafka Connect's "connect" metadata passes through
//! untouched.

/// Topics of a Subscription (version i16, then an array of strings).
/// `None` when the bytes do not parse.
pub fn subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut at = 2usize; // version
    let count = i32::from_be_bytes(metadata.get(at..at + 4)?.try_into().ok()?);
    at += 4;
    let count = usize::try_from(count).ok()?;
    if count > metadata.len() {
        return None;
    }
    let mut topics = Vec::with_capacity(count);
    for _ in 0..count {
        let len = i16::from_be_bytes(metadata.get(at..at + 2)?.try_into().ok()?);
        at += 2;
        let len = usize::try_from(len).ok()?;
        topics.push(String::from_utf8(metadata.get(at..at + len)?.to_vec()).ok()?);
        at += len;
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_topics_of_a_subscription() {
        let mut m = vec![0, 1, 0, 0, 0, 2];
        for t in ["orders", "payments"] {
            m.extend_from_slice(&(t.len() as i16).to_be_bytes());
            m.extend_from_slice(t.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 0, 0]); // user data
        assert_eq!(subscription_topics(&m), Some(vec!["orders".to_string(), "payments".to_string()]));
        assert_eq!(subscription_topics(&m[..9]), None);
        assert_eq!(subscription_topics(&[0, 1, 0x7f, 0xff, 0xff, 0xff]), None);
    }
}
