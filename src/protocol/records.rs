//! Walking the records inside a batch, for the few operations that must look
//! inside one: the exact ListOffsets-by-timestamp answer and max_timestamp,
//! and checking a compressed batch's contents when it is produced.
//!
//! Decompression has a budget: a batch that inflates beyond it is refused
//! rather than buffered, so a small compressed payload cannot exhaust memory.

use std::io::Read;

use super::batch::{read_header, read_varint, BatchError, Compression, BATCH_HEADER_BYTES};

/// Timestamp and offset delta of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPosition {
    pub offset_delta: i64,
    pub timestamp: i64,
}

/// Inflates the records section of a batch, refusing to produce more than
/// `budget_bytes`.
pub fn decompressed_records(batch: &[u8], budget_bytes: usize) -> Result<Vec<u8>, BatchError> {
    let header = read_header(batch)?;
    let payload = &batch[BATCH_HEADER_BYTES..header.size_bytes];
    let fail = |detail: String| BatchError::Decompress { detail };
    let mut out = Vec::new();
    let limit = budget_bytes as u64 + 1;
    let read_all = |reader: &mut dyn Read, out: &mut Vec<u8>| -> Result<(), BatchError> {
        reader.take(limit).read_to_end(out).map_err(|e| fail(e.to_string()))?;
        Ok(())
    };
    match header.compression() {
        Compression::None => out.extend_from_slice(payload),
        Compression::Gzip => read_all(&mut flate2::read::GzDecoder::new(payload), &mut out)?,
        Compression::Lz4 => read_all(&mut lz4_flex::frame::FrameDecoder::new(payload), &mut out)?,
        Compression::Zstd => {
            let mut d = ruzstd::decoding::StreamingDecoder::new(payload).map_err(|e| fail(e.to_string()))?;
            read_all(&mut d, &mut out)?
        }
        Compression::Snappy => out = snappy_decompress(payload, budget_bytes)?,
    }
    if out.len() > budget_bytes {
        return Err(fail(format!("records inflate beyond the {budget_bytes}-byte budget")));
    }
    Ok(out)
}

/// The xerial framing that the Java client's snappy-java writes.
const XERIAL_MAGIC: &[u8] = &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

fn snappy_decompress(payload: &[u8], budget_bytes: usize) -> Result<Vec<u8>, BatchError> {
    let fail = |detail: String| BatchError::Decompress { detail };
    let raw_block = |block: &[u8], out: &mut Vec<u8>| -> Result<(), BatchError> {
        let n = snap::raw::decompress_len(block).map_err(|e| fail(e.to_string()))?;
        if out.len() + n > budget_bytes {
            return Err(fail(format!("records inflate beyond the {budget_bytes}-byte budget")));
        }
        let start = out.len();
        out.resize(start + n, 0);
        snap::raw::Decoder::new().decompress(block, &mut out[start..]).map_err(|e| fail(e.to_string()))?;
        Ok(())
    };
    let mut out = Vec::new();
    if !payload.starts_with(XERIAL_MAGIC) {
        raw_block(payload, &mut out)?;
        return Ok(out);
    }
    // magic(8) + version(4) + compatible version(4), then [len i32][block]…
    let mut rest = payload.get(16..).ok_or_else(|| fail("short xerial header".into()))?;
    while !rest.is_empty() {
        let len_bytes: [u8; 4] =
            rest.get(..4).and_then(|s| s.try_into().ok()).ok_or_else(|| fail("short xerial block length".into()))?;
        let len = usize::try_from(i32::from_be_bytes(len_bytes)).map_err(|_| fail("negative xerial block".into()))?;
        let block = rest.get(4..4 + len).ok_or_else(|| fail("xerial block runs past the batch".into()))?;
        raw_block(block, &mut out)?;
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// Offset delta and timestamp of every record in a batch, in order.
/// For LogAppendTime batches every record carries the batch's max timestamp.
pub fn record_positions(batch: &[u8], budget_bytes: usize) -> Result<Vec<RecordPosition>, BatchError> {
    let records = decompressed_records(batch, budget_bytes)?;
    Ok(walk_records(batch, &records)?.0)
}

/// What Kafka's log validator checks inside a compressed batch before
/// storing it, since the header alone cannot be trusted: it inflates within
/// the budget, holds exactly `recordsCount` well-framed records with nothing
/// after them, and their offset deltas run 0, 1, 2… (StreamHouse stores
/// batches as sent, so it refuses rather than rewrites other deltas).
pub fn check_compressed_records(batch: &[u8], budget_bytes: usize) -> Result<(), BatchError> {
    let records = decompressed_records(batch, budget_bytes)?;
    let (positions, rest) = walk_records(batch, &records)?;
    if rest != 0 {
        return Err(BatchError::RecordFraming { detail: "bytes after the last record" });
    }
    for (index, p) in positions.iter().enumerate() {
        if p.offset_delta != index as i64 {
            return Err(BatchError::InnerOffsets { index, found: p.offset_delta });
        }
    }
    Ok(())
}

/// The positions of the `recordsCount` records in `records` (the batch's
/// records section, inflated), and how many bytes follow the last one.
fn walk_records(batch: &[u8], records: &[u8]) -> Result<(Vec<RecordPosition>, usize), BatchError> {
    let header = read_header(batch)?;
    let framing = |detail| BatchError::RecordFraming { detail };
    // Each record needs at least 7 bytes, so this bound is real.
    let count = usize::try_from(header.records_count).map_err(|_| framing("negative record count"))?;
    let mut positions = Vec::with_capacity(count.min(records.len() / super::batch::RECORD_BYTES_MIN));
    let mut rest = records;
    for _ in 0..count {
        let (len, used) = read_varint(rest).ok_or(framing("truncated record length"))?;
        let len = usize::try_from(len).map_err(|_| framing("negative record length"))?;
        let body = rest.get(used..used + len).ok_or(framing("record runs past the batch"))?;
        // attributes (1 byte), then timestampDelta and offsetDelta varints.
        let (ts_delta, a) =
            read_varint(body.get(1..).ok_or(framing("empty record"))?).ok_or(framing("bad timestamp delta"))?;
        let (offset_delta, _) = read_varint(&body[1 + a..]).ok_or(framing("bad offset delta"))?;
        let timestamp = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.saturating_add(ts_delta)
        };
        positions.push(RecordPosition { offset_delta, timestamp });
        rest = &rest[used + len..];
    }
    Ok((positions, rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::batch::tests::{build_batch, put_varint};

    #[test]
    fn varints_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 64, 300, -300, i32::MAX as i64, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(read_varint(&b), Some((v, b.len())), "{v}");
        }
        assert_eq!(read_varint(&[0x80, 0x80]), None);
    }

    #[test]
    fn positions_of_an_uncompressed_batch() {
        let b = build_batch(&[b"a", b"b", b"c"], 1000);
        let p = record_positions(&b, 1 << 20).unwrap();
        assert_eq!(
            p,
            vec![
                RecordPosition { offset_delta: 0, timestamp: 1000 },
                RecordPosition { offset_delta: 1, timestamp: 1001 },
                RecordPosition { offset_delta: 2, timestamp: 1002 },
            ]
        );
    }

    #[test]
    fn gzip_batches_respect_the_budget() {
        use std::io::Write;
        let plain = build_batch(&[&[b'z'; 5000]], 7);
        let records = &plain[BATCH_HEADER_BYTES..];
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(records).unwrap();
        let gz = enc.finish().unwrap();
        let mut b = plain[..BATCH_HEADER_BYTES].to_vec();
        b[21..23].copy_from_slice(&1i16.to_be_bytes());
        b.extend_from_slice(&gz);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        assert_eq!(record_positions(&b, 1 << 20).unwrap().len(), 1);
        assert!(matches!(record_positions(&b, 1000), Err(BatchError::Decompress { .. })));
    }

    /// A gzip batch of `values` whose header claims `claimed` records, with
    /// the given offset deltas and optional trailing bytes.
    fn gzip_batch(values: &[&[u8]], deltas: &[i64], claimed: i32, trailing: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut records = Vec::new();
        for (v, d) in values.iter().zip(deltas) {
            let mut r = vec![0u8];
            put_varint(&mut r, 0);
            put_varint(&mut r, *d);
            put_varint(&mut r, -1);
            put_varint(&mut r, v.len() as i64);
            r.extend_from_slice(v);
            put_varint(&mut r, 0);
            put_varint(&mut records, r.len() as i64);
            records.extend_from_slice(&r);
        }
        records.extend_from_slice(trailing);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&records).unwrap();
        let mut b = build_batch(&[b"x"], 0)[..BATCH_HEADER_BYTES].to_vec();
        b[21..23].copy_from_slice(&1i16.to_be_bytes());
        b[23..27].copy_from_slice(&(claimed - 1).to_be_bytes());
        b[57..61].copy_from_slice(&claimed.to_be_bytes());
        b.extend_from_slice(&enc.finish().unwrap());
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn compressed_contents_are_checked_like_kafkas_validator() {
        let ok = gzip_batch(&[b"a", b"b", b"c"], &[0, 1, 2], 3, b"");
        assert_eq!(check_compressed_records(&ok, 1 << 20), Ok(()));
        // The header claims more records than the payload holds.
        let short = gzip_batch(&[b"a", b"b"], &[0, 1], 3, b"");
        assert!(matches!(check_compressed_records(&short, 1 << 20), Err(BatchError::RecordFraming { .. })));
        // Fewer claimed than present: the rest is trailing garbage.
        let long = gzip_batch(&[b"a", b"b", b"c"], &[0, 1, 2], 2, b"");
        assert!(matches!(check_compressed_records(&long, 1 << 20), Err(BatchError::RecordFraming { .. })));
        let trailing = gzip_batch(&[b"a"], &[0], 1, b"junk");
        assert!(matches!(check_compressed_records(&trailing, 1 << 20), Err(BatchError::RecordFraming { .. })));
        let gap = gzip_batch(&[b"a", b"b"], &[0, 5], 2, b"");
        assert_eq!(check_compressed_records(&gap, 1 << 20), Err(BatchError::InnerOffsets { index: 1, found: 5 }));
        assert!(matches!(check_compressed_records(&ok, 4), Err(BatchError::Decompress { .. })));
    }

    #[test]
    fn snappy_raw_and_xerial_framing() {
        let data = b"hello hello hello hello".repeat(10);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(snappy_decompress(&raw, 1 << 20).unwrap(), data);
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&1i32.to_be_bytes());
        framed.extend_from_slice(&1i32.to_be_bytes());
        for chunk in data.chunks(100) {
            let c = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            framed.extend_from_slice(&(c.len() as i32).to_be_bytes());
            framed.extend_from_slice(&c);
        }
        assert_eq!(snappy_decompress(&framed, 1 << 20).unwrap(), data);
        assert!(snappy_decompress(&framed, 10).is_err());
    }
}
