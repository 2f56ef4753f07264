//! Kafka error codes, as the Java broker numbers them.
//!
//! Internal error types implement `From<…> for ErrorCode` here and nowhere
//! else, so the mapping a client sees is written down once and table-tested.

use crate::log::LogError;
use crate::metadata::{MetaError, TxnOffsetsRefusal};
use crate::object_store::StoreError;
use crate::producer::SequenceError;
use crate::protocol::batch::BatchError;

/// The subset of Kafka's error codes that StreamHouse returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i16)]
pub enum ErrorCode {
    UnknownServerError = -1,
    None = 0,
    OffsetOutOfRange = 1,
    CorruptMessage = 2,
    UnknownTopicOrPartition = 3,
    InvalidFetchSize = 4,
    LeaderNotAvailable = 5,
    NotLeaderOrFollower = 6,
    RequestTimedOut = 7,
    MessageTooLarge = 10,
    OffsetMetadataTooLarge = 12,
    CoordinatorLoadInProgress = 14,
    CoordinatorNotAvailable = 15,
    NotCoordinator = 16,
    InvalidTopicException = 17,
    RecordListTooLarge = 18,
    NotEnoughReplicas = 19,
    InvalidRequiredAcks = 21,
    IllegalGeneration = 22,
    InconsistentGroupProtocol = 23,
    InvalidGroupId = 24,
    UnknownMemberId = 25,
    InvalidSessionTimeout = 26,
    RebalanceInProgress = 27,
    InvalidTimestamp = 32,
    UnsupportedVersion = 35,
    TopicAlreadyExists = 36,
    InvalidPartitions = 37,
    InvalidReplicationFactor = 38,
    InvalidReplicaAssignment = 39,
    InvalidConfig = 40,
    InvalidRequest = 42,
    TransactionalIdAuthorizationFailed = 53,
    UnsupportedForMessageFormat = 43,
    PolicyViolation = 44,
    OutOfOrderSequenceNumber = 45,
    InvalidProducerEpoch = 47,
    InvalidTxnState = 48,
    InvalidProducerIdMapping = 49,
    InvalidTransactionTimeout = 50,
    ConcurrentTransactions = 51,
    OperationNotAttempted = 55,
    UnknownProducerId = 59,
    UnstableOffsetCommit = 88,
    TransactionalIdNotFound = 105,
    KafkaStorageError = 56,
    NonEmptyGroup = 68,
    GroupIdNotFound = 69,
    FetchSessionIdNotFound = 70,
    UnsupportedCompressionType = 76,
    MemberIdRequired = 79,
    GroupMaxSizeReached = 81,
    FencedInstanceId = 82,
    GroupSubscribedToTopic = 86,
    UnknownTopicId = 100,
    FencedMemberEpoch = 110,
    UnsupportedAssignor = 112,
    StaleMemberEpoch = 113,
    InvalidRecord = 87,
    ProducerFenced = 90,
}

impl ErrorCode {
    pub fn code(self) -> i16 {
        self as i16
    }

    /// Whether a client retries this error by itself.
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::CorruptMessage
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::NotLeaderOrFollower
                | ErrorCode::RequestTimedOut
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NotCoordinator
                | ErrorCode::NotEnoughReplicas
                | ErrorCode::KafkaStorageError
                | ErrorCode::UnknownTopicId
                | ErrorCode::ConcurrentTransactions
        )
    }
}

impl From<&BatchError> for ErrorCode {
    fn from(e: &BatchError) -> Self {
        match e {
            BatchError::TooShort { .. }
            | BatchError::LengthMismatch { .. }
            | BatchError::CrcMismatch { .. }
            | BatchError::RecordFraming { .. } => ErrorCode::CorruptMessage,
            BatchError::Magic { .. }
            | BatchError::RecordCount { .. }
            | BatchError::NotOneBatch { .. }
            | BatchError::InnerOffsets { .. }
            | BatchError::ControlBatch => ErrorCode::InvalidRecord,
            BatchError::TooLarge { .. } => ErrorCode::MessageTooLarge,
            BatchError::UnknownCompression { .. } => ErrorCode::UnsupportedCompressionType,
            BatchError::Decompress { .. } => ErrorCode::CorruptMessage,
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
            MetaError::Sequence { error: SequenceError::OutOfOrder { .. }, .. } => ErrorCode::OutOfOrderSequenceNumber,
            MetaError::Sequence { error: SequenceError::InvalidEpoch { .. }, .. } => ErrorCode::InvalidProducerEpoch,
            MetaError::NotInTransaction { .. } => ErrorCode::InvalidTxnState,
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

impl From<&LogError> for ErrorCode {
    fn from(e: &LogError) -> Self {
        match e {
            LogError::Store(s) => ErrorCode::from(s.as_ref()),
            LogError::Meta(m) => ErrorCode::from(m.as_ref()),
            LogError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            LogError::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
            // Damage found in the store, or a stopping writer: the client
            // retries (possibly elsewhere) while an operator looks.
            LogError::Damaged(_) | LogError::WriterStopped => ErrorCode::KafkaStorageError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_kafka_protocol_page() {
        let table = [
            (ErrorCode::UnknownServerError, -1),
            (ErrorCode::OffsetOutOfRange, 1),
            (ErrorCode::CorruptMessage, 2),
            (ErrorCode::UnknownTopicOrPartition, 3),
            (ErrorCode::MessageTooLarge, 10),
            (ErrorCode::InvalidTopicException, 17),
            (ErrorCode::InvalidRequiredAcks, 21),
            (ErrorCode::IllegalGeneration, 22),
            (ErrorCode::InconsistentGroupProtocol, 23),
            (ErrorCode::UnknownMemberId, 25),
            (ErrorCode::InvalidSessionTimeout, 26),
            (ErrorCode::RebalanceInProgress, 27),
            (ErrorCode::NonEmptyGroup, 68),
            (ErrorCode::GroupIdNotFound, 69),
            (ErrorCode::MemberIdRequired, 79),
            (ErrorCode::FencedInstanceId, 82),
            (ErrorCode::GroupSubscribedToTopic, 86),
            (ErrorCode::CoordinatorLoadInProgress, 14),
            (ErrorCode::UnsupportedVersion, 35),
            (ErrorCode::TopicAlreadyExists, 36),
            (ErrorCode::InvalidPartitions, 37),
            (ErrorCode::InvalidReplicationFactor, 38),
            (ErrorCode::InvalidConfig, 40),
            (ErrorCode::InvalidRequest, 42),
            (ErrorCode::OutOfOrderSequenceNumber, 45),
            (ErrorCode::InvalidProducerEpoch, 47),
            (ErrorCode::InvalidTxnState, 48),
            (ErrorCode::InvalidProducerIdMapping, 49),
            (ErrorCode::InvalidTransactionTimeout, 50),
            (ErrorCode::ConcurrentTransactions, 51),
            (ErrorCode::ProducerFenced, 90),
            (ErrorCode::OperationNotAttempted, 55),
            (ErrorCode::UnknownProducerId, 59),
            (ErrorCode::UnstableOffsetCommit, 88),
            (ErrorCode::TransactionalIdNotFound, 105),
            (ErrorCode::KafkaStorageError, 56),
            (ErrorCode::UnsupportedCompressionType, 76),
            (ErrorCode::InvalidRecord, 87),
            (ErrorCode::UnknownTopicId, 100),
        ];
        for (code, n) in table {
            assert_eq!(code.code(), n, "{code:?}");
        }
    }

    #[test]
    fn batch_errors_map_like_the_java_broker() {
        let crc = BatchError::CrcMismatch { stored: 1, computed: 2 };
        assert_eq!(ErrorCode::from(&crc), ErrorCode::CorruptMessage);
        let magic = BatchError::Magic { magic: 1 };
        assert_eq!(ErrorCode::from(&magic), ErrorCode::InvalidRecord);
        let big = BatchError::TooLarge { size_bytes: 10, max_bytes: 5 };
        assert_eq!(ErrorCode::from(&big), ErrorCode::MessageTooLarge);
        let two = BatchError::NotOneBatch { declared_bytes: 70, actual_bytes: 140 };
        assert_eq!(ErrorCode::from(&two), ErrorCode::InvalidRecord);
    }

    #[test]
    fn log_errors_map_to_retriable_or_exact_codes() {
        let gone = LogError::from(MetaError::PartitionNotFound { topic_id: uuid::Uuid::nil(), partition: 1 });
        assert_eq!(ErrorCode::from(&gone), ErrorCode::UnknownTopicOrPartition);
        let down = LogError::from(MetaError::Unavailable { operation: "x", detail: "y".into() });
        assert_eq!(ErrorCode::from(&down), ErrorCode::KafkaStorageError);
        let range = LogError::OffsetOutOfRange { offset: 9, log_start: 0, high_watermark: 5 };
        assert_eq!(ErrorCode::from(&range), ErrorCode::OffsetOutOfRange);
    }

    #[test]
    fn storage_failures_are_retriable() {
        assert!(ErrorCode::KafkaStorageError.is_retriable());
        assert!(!ErrorCode::TopicAlreadyExists.is_retriable());
    }
}
