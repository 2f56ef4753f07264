"""Storage layout from the contract: record batches are files under
<data-dir>/objects (any depth) and the metadata lives in <data-dir>/meta.sqlite."""

import sqlite3
import time

from clients import Rec, consume, create_topic, produce


def test_records_land_in_object_files(fresh_broker, topic):
    """Every produced value ends up in object files: large flushes at once,
    small ones (committed inline in the metadata store) once the broker
    spills them, within a few spill intervals (docs/design/0004)."""
    b = fresh_broker
    create_topic(b.bootstrap, topic, 2)
    before = {p: p.stat().st_size for p in b.object_files()}
    marker = b"streamhouse-object-marker-"
    recs = [Rec(key=b"k%d" % i, value=marker + b"%06d" % i + b"." * 2000, partition=i % 2) for i in range(200)]
    dels = produce("confluent-kafka", b.bootstrap, topic, recs)  # uncompressed
    assert all(d.error is None for d in dels)

    assert (b.data_dir / "meta.sqlite").is_file()
    payload = sum(len(r.value) for r in recs)
    deadline = time.monotonic() + 20
    while True:
        after = {p: p.stat().st_size for p in b.object_files()}
        new = {p: s for p, s in after.items() if p not in before}
        blob = b"".join(p.read_bytes() for p in new)
        missing = [i for i in range(200) if (marker + b"%06d" % i) not in blob]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert new, "no object file was written under %s" % (b.data_dir / "objects")
    assert sum(new.values()) >= payload, "objects hold %d bytes < %d value bytes produced" % (
        sum(new.values()), payload)
    # the (uncompressed) values are in the objects, not only in SQLite
    assert not missing, "values %s... not in any object file after 20 s" % missing[:5]

    # meta.sqlite is a readable SQLite database
    con = sqlite3.connect("file:%s?mode=ro" % (b.data_dir / "meta.sqlite"), uri=True, timeout=5)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
    finally:
        con.close()
    assert tables, "meta.sqlite has no tables"

    # and the data reads back
    got = consume("kafka-python", b.bootstrap, topic, 200, partitions=[0, 1])
    assert sorted(g.value for g in got) == sorted(r.value for r in recs)
