//! Idempotent producers: per partition and producer id, the producer's
//! epoch and its last five batches, checked against every batch it sends so
//! a retried batch is not stored twice and a gap or reordering is refused.
//!
//! The rules are Kafka's (its ProducerStateManager), written once here as a
//! pure state machine. The metadata stores load a partition's
//! [`ProducerState`] inside the transaction that assigns the object's
//! offsets, ask [`ProducerState::check`] about each batch, and save the
//! state in that same transaction — so deduplication holds across brokers
//! and restarts, and two brokers cannot both accept the same sequence.

use std::collections::VecDeque;

use thiserror::Error;

/// Batches remembered per producer and partition: the most a producer may
/// have in flight (`max.in.flight.requests.per.connection` ≤ 5).
pub const BATCHES_REMEMBERED: usize = 5;

/// No producer id / epoch / sequence (a batch from a plain producer).
pub const NO_PRODUCER_ID: i64 = -1;

/// What a batch says about its producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// Offsets (= records) the batch holds.
    pub offset_count: i32,
}

impl ProducerBatch {
    pub fn is_idempotent(&self) -> bool {
        self.producer_id >= 0
    }

    /// The sequence of the batch's last record; sequences wrap at i32::MAX.
    pub fn last_sequence(&self) -> i32 {
        let last = i64::from(self.base_sequence) + i64::from(self.offset_count) - 1;
        (last % (i64::from(i32::MAX) + 1)) as i32
    }
}

/// A batch accepted earlier, as remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub base_offset: i64,
}

/// Why a batch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SequenceError {
    #[error("producer epoch {batch} is older than the current epoch {current}")]
    InvalidEpoch { batch: i16, current: i16 },
    #[error("out of order sequence number: expected {expected}, got {got}")]
    OutOfOrder { expected: i32, got: i32 },
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Store it, then [`ProducerState::record`] where it went.
    Append,
    /// A retry of a batch already stored at this base offset: answer with
    /// it and store nothing.
    Duplicate {
        base_offset: i64,
    },
    Refuse(SequenceError),
}

/// One producer's state on one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerState {
    /// `None` for a producer never seen on this partition.
    pub epoch: Option<i16>,
    /// Newest last.
    pub batches: VecDeque<BatchMeta>,
}

fn next_sequence(last: i32) -> i32 {
    if last == i32::MAX {
        0
    } else {
        last + 1
    }
}

impl ProducerState {
    pub fn check(&self, b: &ProducerBatch) -> Verdict {
        let Some(epoch) = self.epoch else {
            // Unknown here (new, or its state expired): any sequence starts
            // it, as Kafka accepts after the producer's records are gone.
            return Verdict::Append;
        };
        if b.producer_epoch < epoch {
            return Verdict::Refuse(SequenceError::InvalidEpoch { batch: b.producer_epoch, current: epoch });
        }
        if b.producer_epoch > epoch {
            // A bumped epoch restarts sequences at 0.
            return if b.base_sequence == 0 {
                Verdict::Append
            } else {
                Verdict::Refuse(SequenceError::OutOfOrder { expected: 0, got: b.base_sequence })
            };
        }
        let last = b.last_sequence();
        if let Some(dup) = self.batches.iter().find(|m| m.first_sequence == b.base_sequence && m.last_sequence == last)
        {
            return Verdict::Duplicate { base_offset: dup.base_offset };
        }
        match self.batches.back() {
            Some(newest) if b.base_sequence != next_sequence(newest.last_sequence) => {
                Verdict::Refuse(SequenceError::OutOfOrder {
                    expected: next_sequence(newest.last_sequence),
                    got: b.base_sequence,
                })
            }
            _ => Verdict::Append,
        }
    }

    /// Remembers a batch that was appended at `base_offset`.
    pub fn record(&mut self, b: &ProducerBatch, base_offset: i64) {
        if self.epoch != Some(b.producer_epoch) {
            self.batches.clear();
            self.epoch = Some(b.producer_epoch);
        }
        self.batches.push_back(BatchMeta {
            first_sequence: b.base_sequence,
            last_sequence: b.last_sequence(),
            base_offset,
        });
        while self.batches.len() > BATCHES_REMEMBERED {
            self.batches.pop_front();
        }
    }

    /// A transaction marker with `epoch` was written: a newer epoch fences
    /// the producer's older one from here on.
    pub fn fence(&mut self, epoch: i16) {
        if self.epoch.is_none_or(|e| e < epoch) {
            self.epoch = Some(epoch);
            self.batches.clear();
        }
    }

    /// The stored form of the remembered batches: `first:last:offset`
    /// triples separated by spaces.
    pub fn encode_batches(&self) -> String {
        self.batches
            .iter()
            .map(|m| format!("{}:{}:{}", m.first_sequence, m.last_sequence, m.base_offset))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The state from its stored form; `None` if `batches` is damaged.
    pub fn decode(epoch: i16, batches: &str) -> Option<Self> {
        let mut out = VecDeque::new();
        for triple in batches.split_whitespace() {
            let mut f = triple.split(':');
            let meta = BatchMeta {
                first_sequence: f.next()?.parse().ok()?,
                last_sequence: f.next()?.parse().ok()?,
                base_offset: f.next()?.parse().ok()?,
            };
            if f.next().is_some() {
                return None;
            }
            out.push_back(meta);
        }
        Some(Self { epoch: Some(epoch), batches: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(epoch: i16, base_sequence: i32, offset_count: i32) -> ProducerBatch {
        ProducerBatch { producer_id: 7, producer_epoch: epoch, base_sequence, offset_count }
    }

    fn append(s: &mut ProducerState, b: ProducerBatch, base_offset: i64) {
        assert_eq!(s.check(&b), Verdict::Append, "{b:?} in {s:?}");
        s.record(&b, base_offset);
    }

    #[test]
    fn in_order_batches_append_and_retries_are_duplicates() {
        let mut s = ProducerState::default();
        append(&mut s, batch(0, 0, 3), 100);
        append(&mut s, batch(0, 3, 2), 103);
        append(&mut s, batch(0, 5, 1), 105);
        assert_eq!(s.check(&batch(0, 3, 2)), Verdict::Duplicate { base_offset: 103 });
        assert_eq!(s.check(&batch(0, 0, 3)), Verdict::Duplicate { base_offset: 100 });
        // A gap, a reorder, and a retry that does not match a batch.
        assert_eq!(s.check(&batch(0, 8, 1)), Verdict::Refuse(SequenceError::OutOfOrder { expected: 6, got: 8 }));
        assert_eq!(s.check(&batch(0, 4, 1)), Verdict::Refuse(SequenceError::OutOfOrder { expected: 6, got: 4 }));
        append(&mut s, batch(0, 6, 1), 110);
    }

    #[test]
    fn only_five_batches_are_remembered() {
        let mut s = ProducerState::default();
        for i in 0..7 {
            append(&mut s, batch(0, i, 1), i64::from(i) * 10);
        }
        assert_eq!(s.batches.len(), BATCHES_REMEMBERED);
        assert_eq!(s.check(&batch(0, 2, 1)), Verdict::Duplicate { base_offset: 20 });
        // Older than the window: no longer recognised, so out of order.
        assert_eq!(s.check(&batch(0, 1, 1)), Verdict::Refuse(SequenceError::OutOfOrder { expected: 7, got: 1 }));
    }

    #[test]
    fn epochs_fence_and_restart_sequences() {
        let mut s = ProducerState::default();
        append(&mut s, batch(3, 0, 5), 0);
        assert_eq!(s.check(&batch(2, 5, 1)), Verdict::Refuse(SequenceError::InvalidEpoch { batch: 2, current: 3 }));
        assert_eq!(s.check(&batch(4, 7, 1)), Verdict::Refuse(SequenceError::OutOfOrder { expected: 0, got: 7 }));
        append(&mut s, batch(4, 0, 1), 5);
        assert_eq!(s.epoch, Some(4));
        assert_eq!(s.batches.len(), 1, "a new epoch forgets the old batches");
        assert_eq!(s.check(&batch(3, 5, 1)), Verdict::Refuse(SequenceError::InvalidEpoch { batch: 3, current: 4 }));
    }

    #[test]
    fn an_unknown_producer_may_start_anywhere_and_sequences_wrap() {
        let mut s = ProducerState::default();
        append(&mut s, batch(0, i32::MAX - 1, 2), 0);
        assert_eq!(batch(0, i32::MAX - 1, 2).last_sequence(), i32::MAX);
        append(&mut s, batch(0, 0, 1), 2);
        assert_eq!(batch(0, i32::MAX, 3).last_sequence(), 1);
    }

    #[test]
    fn the_stored_form_round_trips() {
        let mut s = ProducerState::default();
        append(&mut s, batch(2, 0, 3), 40);
        append(&mut s, batch(2, 3, 1), 43);
        let text = s.encode_batches();
        assert_eq!(text, "0:2:40 3:3:43");
        assert_eq!(ProducerState::decode(2, &text), Some(s));
        assert_eq!(ProducerState::decode(2, ""), Some(ProducerState { epoch: Some(2), batches: VecDeque::new() }));
        assert_eq!(ProducerState::decode(2, "1:2"), None);
        assert_eq!(ProducerState::decode(2, "1:2:3:4"), None);
    }
}
