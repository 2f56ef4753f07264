"""Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), in Python.

The Java client's default partitioner (and librdkafka's murmur2 / murmur2_random
partitioners, kafka-python's and aiokafka's default partitioners) put a keyed
record into partition toPositive(murmur2(key)) % numPartitions, where
toPositive(n) = n & 0x7fffffff.
"""

M = 0x5BD1E995
SEED = 0x9747B28C
MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Returns the 32-bit hash as a signed Java int."""
    length = len(data)
    h = (SEED ^ length) & MASK
    n4 = length // 4
    for i in range(n4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * M) & MASK
        k ^= k >> 24
        k = (k * M) & MASK
        h = (h * M) & MASK
        h ^= k
    tail = length & ~3
    rem = length % 4
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h ^= data[tail]
        h = (h * M) & MASK
    h ^= h >> 13
    h = (h * M) & MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(n: int) -> int:
    return n & 0x7FFFFFFF


def partition_for(key: bytes, num_partitions: int) -> int:
    return to_positive(murmur2(key)) % num_partitions
