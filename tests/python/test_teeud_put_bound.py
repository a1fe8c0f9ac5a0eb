"""PutObjectHeader.plaintext_size_is_bound (docs/protocol.md): plaintext_size
is then an upper bound; teeud stores what arrived (<= the bound, ending at
the final segment) as the object's plaintext size, so Call and Reveal use
the real size, and refuses a stream that passes the bound. Without the flag
the total must still equal plaintext_size."""
import json

import grpc
import numpy as np
import pytest

import teeud_support as tds


pb, env, alice = tds.module_fixtures(teeud_extra=["--max-object-size", str(1 << 20)])


def stored_meta(env, data_uuid):
    return json.loads((env.teeud_state / "objects" / f"{data_uuid}.json").read_text())


def put_refused(env, reqs):
    with pytest.raises(grpc.RpcError) as ei:
        env.client.stub.PutObject(iter(reqs), timeout=60)
    return ei.value


def test_bound_above_the_size_stores_the_received_total(env, alice):
    a = np.arange(1000, dtype="<f8")  # .npy of 8128 bytes: 8 segments of 1024, the last one smaller
    plain = tds.npy_bytes(a)
    data_uuid, key = env.create(alice)
    r = env.client.put(alice, data_uuid, key, plain, segment_size=1024, plaintext_size=len(plain) + 50000,
                       size_is_bound=True)
    assert r.data_uuid == data_uuid
    assert r.stored_bytes == len(plain) + 8 * tds.TAG
    m = stored_meta(env, data_uuid)
    assert m["plaintext_size"] == len(plain)
    assert m["n_segments"] == 8
    # The kernel reads exactly the real .npy: the sum is right, and revealable.
    assert env.client.reveal(alice, env.client.call(alice, "sum@1{}", [data_uuid])) == a.sum()


def test_bound_equal_to_the_size_and_one_short_segment(env, alice):
    a = np.arange(12.0).reshape(3, 4)
    plain = tds.npy_bytes(a)
    for bound in (len(plain), 1 << 20):  # exact, and the largest the worker accepts
        data_uuid, key = env.create(alice)
        env.client.put(alice, data_uuid, key, plain, plaintext_size=bound, size_is_bound=True)
        assert stored_meta(env, data_uuid)["plaintext_size"] == len(plain)
        res = env.client.call(alice, 'average@1{"axis":1}', [data_uuid])
        np.testing.assert_allclose(env.client.reveal(alice, res), a.mean(axis=1))


def test_bound_with_an_empty_final_segment(env, alice):
    """Full segments, then an empty final one (a compressor that flushes its end late)."""
    a = np.arange(240, dtype="<f8")  # 2048 bytes of .npy: exactly two 1024-byte segments
    plain = tds.npy_bytes(a)
    assert len(plain) == 2048
    data_uuid, key = env.create(alice)
    t = env.client.t
    sealer = tds.StreamSealer(key, data_uuid.encode(), 1024)
    hdr = t.PutObjectHeader(data_uuid=data_uuid, owner_id=alice.owner_id, owner_public_key=alice.pem,
                            stream_header=sealer.header, plaintext_size=4096, segment_size=1024,
                            timestamp_ms=tds.now_ms(), plaintext_size_is_bound=True)
    raw = hdr.SerializeToString()
    reqs = [t.PutObjectRequest(header=t.SignedPutObjectHeader(header=raw, signature=tds.ams.sign(alice.key, raw)))]
    for i, (chunk, final) in enumerate([(plain[:1024], False), (plain[1024:], False), (b"", True)]):
        reqs.append(t.PutObjectRequest(segment=t.PutObjectSegment(index=i, final=final,
                                                                   ciphertext=sealer.seal(chunk, final))))
    assert env.client.stub.PutObject(iter(reqs), timeout=60).stored_bytes == 2048 + 3 * tds.TAG
    m = stored_meta(env, data_uuid)
    assert (m["plaintext_size"], m["n_segments"]) == (2048, 3)
    assert env.client.reveal(alice, env.client.call(alice, "sum@1{}", [data_uuid])) == a.sum()


def test_exceeding_the_bound_is_refused_and_nothing_stored(env, alice):
    plain = tds.npy_bytes(np.arange(1000.0))
    data_uuid, key = env.create(alice)
    reqs = list(env.client.put_requests(alice, data_uuid, key, plain, segment_size=1024,
                                        plaintext_size=len(plain) - 1, size_is_bound=True))
    err = put_refused(env, reqs)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "exceed the plaintext_size bound" in err.details()
    assert not (env.teeud_state / "objects" / f"{data_uuid}.json").exists()
    # Refused on the segment that passes the bound, before the final one:
    # a bound below one full segment fails at segment 0.
    reqs = list(env.client.put_requests(alice, data_uuid, key, plain, segment_size=1024, plaintext_size=100,
                                        size_is_bound=True))
    err = put_refused(env, reqs)
    assert "segment 0: segments exceed the plaintext_size bound" in err.details()
    # The uuid is still free.
    env.client.put(alice, data_uuid, key, plain, segment_size=1024)
    assert stored_meta(env, data_uuid)["plaintext_size"] == len(plain)


def test_bound_over_max_object_size_is_refused(env, alice):
    plain = tds.npy_bytes(np.arange(4.0))
    data_uuid, key = env.create(alice)
    reqs = list(env.client.put_requests(alice, data_uuid, key, plain, plaintext_size=(1 << 20) + 1,
                                        size_is_bound=True))
    err = put_refused(env, reqs)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max-object-size" in err.details()


def test_without_the_flag_the_size_must_be_exact(env, alice):
    plain = tds.npy_bytes(np.arange(1000.0))
    data_uuid, key = env.create(alice)
    for size in (len(plain) + 1, len(plain) - 1):
        reqs = list(env.client.put_requests(alice, data_uuid, key, plain, segment_size=1024, plaintext_size=size))
        err = put_refused(env, reqs)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "do not add up to plaintext_size" in err.details()
    env.client.put(alice, data_uuid, key, plain, segment_size=1024)
