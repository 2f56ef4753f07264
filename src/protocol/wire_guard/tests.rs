//! The layouts checked against the codec: requests encoded with populated
//! fields walk to the exact end; truncations and absurd counts are refused.
//! (Every served version of every API is checked by the registry's tests
//! in `crate::handlers`.)

use super::samples::populated;
use super::*;

/// The transaction APIs at every version the codec carries, which
/// includes every version the broker serves (AddPartitionsToTxn 0-4,
/// AddOffsetsToTxn 0-3, EndTxn 0-3, TxnOffsetCommit 0-3, ListTransactions
/// 0-1, DescribeProducers and DescribeTransactions 0). Listed here rather
/// than taken from SUPPORTED_APIS so the layouts are pinned whatever the
/// dispatcher advertises.
const TRANSACTION_APIS: &[(ApiKey, Layout, i16, i16)] = &[
    (ApiKey::AddPartitionsToTxn, ADD_PARTITIONS_TO_TXN, 0, 5),
    (ApiKey::AddOffsetsToTxn, ADD_OFFSETS_TO_TXN, 0, 4),
    (ApiKey::EndTxn, END_TXN, 0, 5),
    (ApiKey::TxnOffsetCommit, TXN_OFFSET_COMMIT, 0, 5),
    (ApiKey::DescribeProducers, DESCRIBE_PRODUCERS, 0, 0),
    (ApiKey::DescribeTransactions, DESCRIBE_TRANSACTIONS, 0, 0),
    (ApiKey::ListTransactions, LIST_TRANSACTIONS, 0, 2),
];

#[test]
fn transaction_apis_walk_to_the_exact_end() {
    for (api, layout, min, max) in TRANSACTION_APIS {
        for version in *min..=*max {
            let body = populated(*api, version);
            assert_eq!(check_request(*api, version, layout, &body), Ok(0), "{api:?} v{version}");
            for cut in 1..=body.len() {
                assert!(check_request(*api, version, layout, &body[..body.len() - cut]).is_err(), "{api:?} v{version}");
            }
        }
    }
}

#[test]
fn a_huge_array_count_in_a_transaction_request_is_refused() {
    let huge = |r: Result<usize, GuardError>| matches!(r, Err(GuardError::CountTooLarge { .. }));
    // AddPartitionsToTxn v2: id "tx", producer id, epoch, then the topic count.
    let mut classic = vec![0, 2, b't', b'x'];
    classic.extend_from_slice(&[0u8; 10]);
    classic.extend_from_slice(&i32::MAX.to_be_bytes());
    classic.extend_from_slice(&[0u8; 16]);
    assert!(huge(check_request(ApiKey::AddPartitionsToTxn, 2, ADD_PARTITIONS_TO_TXN, &classic)));
    // The same count one level down: one topic whose partition array claims i32::MAX.
    let mut nested = vec![0, 2, b't', b'x'];
    nested.extend_from_slice(&[0u8; 10]);
    nested.extend_from_slice(&1i32.to_be_bytes());
    nested.extend_from_slice(&[0, 1, b'o']);
    nested.extend_from_slice(&i32::MAX.to_be_bytes());
    nested.extend_from_slice(&[0u8; 16]);
    assert!(huge(check_request(ApiKey::AddPartitionsToTxn, 2, ADD_PARTITIONS_TO_TXN, &nested)));
    // AddPartitionsToTxn v4: the transactions array is the first field (compact count).
    let varint_max = [0xff, 0xff, 0xff, 0xff, 0x0f];
    let mut batched = varint_max.to_vec();
    batched.extend_from_slice(&[0u8; 16]);
    assert!(huge(check_request(ApiKey::AddPartitionsToTxn, 4, ADD_PARTITIONS_TO_TXN, &batched)));
    // TxnOffsetCommit v0: two strings, producer id, epoch, then the topic count.
    let mut commit = vec![0, 2, b't', b'x', 0, 1, b'g'];
    commit.extend_from_slice(&[0u8; 10]);
    commit.extend_from_slice(&(1i32 << 30).to_be_bytes());
    commit.extend_from_slice(&[0u8; 16]);
    assert!(huge(check_request(ApiKey::TxnOffsetCommit, 0, TXN_OFFSET_COMMIT, &commit)));
    // The flexible admin requests open with compact arrays.
    let admin = [
        (ApiKey::DescribeProducers, DESCRIBE_PRODUCERS),
        (ApiKey::DescribeTransactions, DESCRIBE_TRANSACTIONS),
        (ApiKey::ListTransactions, LIST_TRANSACTIONS),
    ];
    for (api, layout) in admin {
        let mut body = varint_max.to_vec();
        body.extend_from_slice(&[0u8; 16]);
        assert!(huge(check_request(api, 0, layout, &body)), "{api:?}");
    }
    // ListTransactions: the producer id filter after an empty state filter.
    let mut filters = vec![1];
    filters.extend_from_slice(&varint_max);
    filters.extend_from_slice(&[0u8; 16]);
    assert!(huge(check_request(ApiKey::ListTransactions, 1, LIST_TRANSACTIONS, &filters)));
}

#[test]
fn a_huge_array_count_is_refused_before_the_codec_sees_it() {
    // Produce v3: transactional_id null, acks, timeout, then topic count.
    let mut body = vec![0xff, 0xff, 0, 1, 0, 0, 0, 100];
    body.extend_from_slice(&i32::MAX.to_be_bytes());
    body.extend_from_slice(&[0u8; 20]);
    assert!(
        matches!(check_request(ApiKey::Produce, 3, PRODUCE, &body), Err(GuardError::CountTooLarge { count, .. }) if count == i32::MAX as u64)
    );
    // Flexible (v9): compact count as an unsigned varint.
    let mut flex = vec![0, 0, 1, 0, 0, 0, 100];
    flex.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(check_request(ApiKey::Produce, 9, PRODUCE, &flex), Err(GuardError::CountTooLarge { .. })));
    // Negative lengths other than null are malformed.
    let mut neg = vec![0xff, 0xfe];
    neg.extend_from_slice(&[0u8; 10]);
    assert!(matches!(check_request(ApiKey::Produce, 3, PRODUCE, &neg), Err(GuardError::BadLength { at: 0 })));
}

/// Regression: librdkafka 2.16 (confluent-kafka 2.16.1) sends Metadata
/// v12 with three bytes after the body; the Java broker ignores them.
#[test]
fn trailing_bytes_are_tolerated_like_the_java_broker() {
    let frame = hex("0003000c00000003000772646b61666b610000000000010000");
    let body = &frame[18..];
    assert_eq!(check_request(ApiKey::Metadata, 12, METADATA, body), Ok(3));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
