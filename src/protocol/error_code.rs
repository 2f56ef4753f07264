//! Kafka error codes, as the Java broker numbers them. Which internal
//! error becomes which code is written down once, in
//! `crate::handlers::errors`.

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
    fn storage_failures_are_retriable() {
        assert!(ErrorCode::KafkaStorageError.is_retriable());
        assert!(!ErrorCode::TopicAlreadyExists.is_retriable());
    }
}
