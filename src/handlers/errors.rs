//! The one place internal errors become Kafka error codes: every
//! `From<&…> for ErrorCode` is here, table-tested below, so what a client
//! sees for a given failure is written down once. Handlers call
//! `ErrorCode::from(&e)`; nothing below the handlers picks codes for
//! failures (coordinators decide Kafka answers, but return store and log
//! failures as typed errors that are mapped here).

use crate::group::GroupError;
use crate::log::append::AppendRefusal;
use crate::log::LogError;
use crate::metadata::{MetaError, TxnOffsetsRefusal};
use crate::object_store::StoreError;
use crate::producer::SequenceError;
use crate::protocol::batch::BatchError;
use crate::protocol::ErrorCode;
use crate::topics::TopicError;
use crate::txn::TxnError;

impl From<&BatchError> for ErrorCode {
    fn from(e: &BatchError) -> Self {
        match e {
            BatchError::TooShort { .. }
            | BatchError::LengthMismatch { .. }
            | BatchError::CrcMismatch { .. }
            | BatchError::RecordFraming { .. }
            | BatchError::Decompress { .. } => ErrorCode::CorruptMessage,
            BatchError::Magic { .. }
            | BatchError::RecordCount { .. }
            | BatchError::NotOneBatch { .. }
            | BatchError::InnerOffsets { .. }
            | BatchError::ControlBatch => ErrorCode::InvalidRecord,
            BatchError::TooLarge { .. } => ErrorCode::MessageTooLarge,
            BatchError::UnknownCompression { .. } => ErrorCode::UnsupportedCompressionType,
        }
    }
}

impl From<&MetaError> for ErrorCode {
    fn from(e: &MetaError) -> Self {
        match e {
            MetaError::TopicExists { .. } => ErrorCode::TopicAlreadyExists,
            MetaError::TopicNotFound { .. } | MetaError::PartitionNotFound { .. } => ErrorCode::UnknownTopicOrPartition,
            MetaError::Unavailable { .. } | MetaError::Corrupt { .. } => ErrorCode::KafkaStorageError,
            // The outcome is unknown: the retriable "timed out", as Kafka
            // answers when it cannot tell whether a write completed.
            MetaError::TimedOut { .. } => ErrorCode::RequestTimedOut,
            MetaError::TxnOffsetsRefused { refusal, .. } => match refusal {
                TxnOffsetsRefusal::UnknownProducer => ErrorCode::InvalidProducerIdMapping,
                TxnOffsetsRefusal::Fenced => ErrorCode::ProducerFenced,
                TxnOffsetsRefusal::NotInTransaction => ErrorCode::InvalidTxnState,
            },
        }
    }
}

impl From<&StoreError> for ErrorCode {
    fn from(_: &StoreError) -> Self {
        // Every object-store failure a produce or fetch can meet is one the
        // client should retry: the data is either not yet acknowledged or
        // still referenced by the index.
        ErrorCode::KafkaStorageError
    }
}

impl From<&AppendRefusal> for ErrorCode {
    fn from(e: &AppendRefusal) -> Self {
        match e {
            AppendRefusal::Sequence { error: SequenceError::OutOfOrder { .. }, .. } => {
                ErrorCode::OutOfOrderSequenceNumber
            }
            AppendRefusal::Sequence { error: SequenceError::InvalidEpoch { .. }, .. } => {
                ErrorCode::InvalidProducerEpoch
            }
            AppendRefusal::NotInTransaction { .. } => ErrorCode::InvalidTxnState,
            AppendRefusal::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
        }
    }
}

impl From<&LogError> for ErrorCode {
    fn from(e: &LogError) -> Self {
        match e {
            LogError::Store(s) => ErrorCode::from(s.as_ref()),
            LogError::Meta(m) => ErrorCode::from(m.as_ref()),
            LogError::Refused(r) => ErrorCode::from(r),
            LogError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            LogError::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
            // Damage found in the store, or a stopping writer: the client
            // retries (possibly elsewhere) while an operator looks.
            LogError::Damaged(_) | LogError::DamagedObject(_) | LogError::WriterStopped => ErrorCode::KafkaStorageError,
        }
    }
}

impl From<&TopicError> for ErrorCode {
    fn from(e: &TopicError) -> Self {
        match e {
            TopicError::InvalidName(_) => ErrorCode::InvalidTopicException,
            TopicError::Exists { .. } => ErrorCode::TopicAlreadyExists,
            TopicError::Store(m) => ErrorCode::from(m),
            TopicError::Log(l) => ErrorCode::from(l),
        }
    }
}

impl From<&GroupError> for ErrorCode {
    fn from(e: &GroupError) -> Self {
        match e {
            GroupError::Refused(code) => *code,
            GroupError::Store(m) => ErrorCode::from(m),
        }
    }
}

impl From<&TxnError> for ErrorCode {
    fn from(e: &TxnError) -> Self {
        match e {
            TxnError::Refused(code) => *code,
            // Clients retry these after finding the coordinator again.
            TxnError::Store(m) => match ErrorCode::from(m) {
                ErrorCode::KafkaStorageError => ErrorCode::CoordinatorNotAvailable,
                other => other,
            },
            TxnError::Markers(_) => ErrorCode::CoordinatorNotAvailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn batch_errors_map_like_the_java_broker() {
        let table = [
            (BatchError::CrcMismatch { stored: 1, computed: 2 }, ErrorCode::CorruptMessage),
            (BatchError::Magic { magic: 1 }, ErrorCode::InvalidRecord),
            (BatchError::TooLarge { size_bytes: 10, max_bytes: 5 }, ErrorCode::MessageTooLarge),
            (BatchError::NotOneBatch { declared_bytes: 70, actual_bytes: 140 }, ErrorCode::InvalidRecord),
            (BatchError::ControlBatch, ErrorCode::InvalidRecord),
            (BatchError::UnknownCompression { codec: 7 }, ErrorCode::UnsupportedCompressionType),
        ];
        for (e, code) in table {
            assert_eq!(ErrorCode::from(&e), code, "{e:?}");
        }
    }

    #[test]
    fn store_errors_map_to_retriable_or_exact_codes() {
        let refused = |refusal| MetaError::TxnOffsetsRefused { transactional_id: "t".into(), refusal };
        let table = [
            (MetaError::TopicExists { name: "t".into() }, ErrorCode::TopicAlreadyExists),
            (MetaError::TopicNotFound { name: "t".into() }, ErrorCode::UnknownTopicOrPartition),
            (MetaError::PartitionNotFound { topic_id: Uuid::nil(), partition: 1 }, ErrorCode::UnknownTopicOrPartition),
            (MetaError::Unavailable { operation: "x", detail: "y".into() }, ErrorCode::KafkaStorageError),
            (MetaError::Corrupt { detail: "y".into() }, ErrorCode::KafkaStorageError),
            (MetaError::TimedOut { operation: "x", after_ms: 1 }, ErrorCode::RequestTimedOut),
            (refused(TxnOffsetsRefusal::UnknownProducer), ErrorCode::InvalidProducerIdMapping),
            (refused(TxnOffsetsRefusal::Fenced), ErrorCode::ProducerFenced),
            (refused(TxnOffsetsRefusal::NotInTransaction), ErrorCode::InvalidTxnState),
        ];
        for (e, code) in table {
            assert_eq!(ErrorCode::from(&e), code, "{e:?}");
        }
    }

    #[test]
    fn log_errors_map_to_retriable_or_exact_codes() {
        let sequence = |error| AppendRefusal::Sequence { producer_id: 1, error };
        let table = [
            (
                LogError::from(MetaError::PartitionNotFound { topic_id: Uuid::nil(), partition: 1 }),
                ErrorCode::UnknownTopicOrPartition,
            ),
            (
                LogError::from(MetaError::Unavailable { operation: "x", detail: "y".into() }),
                ErrorCode::KafkaStorageError,
            ),
            (LogError::OffsetOutOfRange { offset: 9, log_start: 0, high_watermark: 5 }, ErrorCode::OffsetOutOfRange),
            (LogError::UnknownPartition { topic_id: Uuid::nil(), partition: 0 }, ErrorCode::UnknownTopicOrPartition),
            (LogError::WriterStopped, ErrorCode::KafkaStorageError),
            (LogError::Damaged(BatchError::ControlBatch), ErrorCode::KafkaStorageError),
            (
                LogError::from(sequence(SequenceError::OutOfOrder { expected: 5, got: 9 })),
                ErrorCode::OutOfOrderSequenceNumber,
            ),
            (
                LogError::from(sequence(SequenceError::InvalidEpoch { batch: 0, current: 1 })),
                ErrorCode::InvalidProducerEpoch,
            ),
            (
                LogError::from(AppendRefusal::NotInTransaction {
                    producer_id: 1,
                    producer_epoch: 0,
                    topic_id: Uuid::nil(),
                    partition: 0,
                }),
                ErrorCode::InvalidTxnState,
            ),
            (
                LogError::from(AppendRefusal::UnknownPartition { topic_id: Uuid::nil(), partition: 0 }),
                ErrorCode::UnknownTopicOrPartition,
            ),
        ];
        for (e, code) in table {
            assert_eq!(ErrorCode::from(&e), code, "{e:?}");
        }
    }

    #[test]
    fn coordinator_errors_keep_their_answers_and_map_store_failures() {
        let down = || MetaError::Unavailable { operation: "x", detail: "y".into() };
        assert_eq!(ErrorCode::from(&TxnError::Refused(ErrorCode::ProducerFenced)), ErrorCode::ProducerFenced);
        assert_eq!(ErrorCode::from(&TxnError::Store(down())), ErrorCode::CoordinatorNotAvailable);
        let timed_out = MetaError::TimedOut { operation: "x", after_ms: 1 };
        assert_eq!(ErrorCode::from(&TxnError::Store(timed_out)), ErrorCode::RequestTimedOut);
        assert_eq!(ErrorCode::from(&TxnError::Markers("x".into())), ErrorCode::CoordinatorNotAvailable);
        assert_eq!(ErrorCode::from(&GroupError::Refused(ErrorCode::NonEmptyGroup)), ErrorCode::NonEmptyGroup);
        assert_eq!(ErrorCode::from(&GroupError::Store(down())), ErrorCode::KafkaStorageError);
        assert_eq!(ErrorCode::from(&TopicError::InvalidName("bad")), ErrorCode::InvalidTopicException);
        assert_eq!(ErrorCode::from(&TopicError::Exists { name: "t".into() }), ErrorCode::TopicAlreadyExists);
        assert_eq!(ErrorCode::from(&TopicError::Store(down())), ErrorCode::KafkaStorageError);
    }
}
