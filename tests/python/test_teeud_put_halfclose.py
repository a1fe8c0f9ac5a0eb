"""teeud answers PutObject only after the client's half-close: a message
after the final segment is refused and nothing is stored (libcurl 7.88
loses a response that arrives while its upload is still open, so an early
answer made puts hang; see docs/performance.md)."""
import os

import grpc
import numpy as np
import pytest

import teeud_support as tds


pb, env, _ = tds.module_fixtures()


def test_message_after_final_segment_refused(env):
    alice = env.register()
    data_uuid, key = env.create(alice)
    reqs = list(env.client.put_requests(alice, data_uuid, key, os.urandom(3000), segment_size=1024))
    assert reqs[-1].segment.final
    extra = env.client.t.PutObjectRequest()
    extra.CopyFrom(reqs[-1])
    extra.segment.index += 1
    with pytest.raises(grpc.RpcError) as ei:
        env.client.stub.PutObject(iter(reqs + [extra]), timeout=30)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "after the final segment" in ei.value.details()
    # Nothing was stored: the same uuid can still be put, and that put succeeds.
    plain = tds.npy_bytes(np.arange(6.0))
    assert env.client.put(alice, data_uuid, key, plain).data_uuid == data_uuid


def test_many_small_puts_do_not_stall(env):
    """Sequential small puts on one connection, each answered after the half-close."""
    alice = env.register()
    for _ in range(20):
        data_uuid, key = env.create(alice)
        assert env.client.put(alice, data_uuid, key, tds.npy_bytes(np.arange(12.0))).data_uuid == data_uuid
