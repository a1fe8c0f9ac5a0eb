"""teeud durability: stored objects and results survive kill -9; an upload
cut short (client gone, daemon killed, daemon stopped) never becomes
visible and leaves no temporary file behind after a restart."""
import pathlib
import threading
import time

import grpc
import numpy as np
import pytest

import teeud_support as tds


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return tds.generate_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture
def env(tool, pb, tmp_path):
    e = tds.Env(tool, pb, tmp_path)
    yield e
    e.close()


def _tmp_files(env):
    return sorted(str(p) for p in (env.teeud_state).rglob("*.tmp"))


def _start_stalled_upload(env, party, nbytes=6 << 20, send_segments=3):
    """A PutObject that sends a few 1 MiB segments, then stalls until released."""
    data_uuid, key = env.create(party)
    release = threading.Event()
    outcome = {}

    def gen():
        for i, req in enumerate(env.client.put_requests(party, data_uuid, key, b"\x07" * nbytes)):
            if i == send_segments + 1:
                release.wait(60)
                return
            yield req

    def run():
        try:
            outcome["resp"] = env.client.stub.PutObject(gen(), timeout=60)
        except grpc.RpcError as e:
            outcome["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    deadline = time.time() + 30
    while time.time() < deadline:
        tmp = _tmp_files(env)
        if tmp and pathlib.Path(tmp[0]).stat().st_size >= (send_segments - 1) << 20:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the upload never reached the spool")
    return data_uuid, key, release, t, outcome


def test_kill9_keeps_objects_and_results_and_drops_half_uploads(env):
    alice = env.register()
    a = np.arange(24, dtype=np.float64).reshape(4, 6)
    u = env.put_array(alice, a)
    res = env.client.call(alice, 'sum@1{"axis":0}', [u])
    identity = env.client.attest()[0].identity_public_key
    half_uuid, half_key, release, t, outcome = _start_stalled_upload(env, alice)
    assert _tmp_files(env), "the half upload is being written to a temp file"

    env.restart_teeud(kill=True)
    assert env.client.attest()[0].identity_public_key == identity
    release.set()
    t.join(30)
    assert "resp" not in outcome

    assert _tmp_files(env) == [], "start-up removes leftovers of interrupted uploads"
    np.testing.assert_array_equal(env.client.reveal(alice, res), a.sum(axis=0))
    res2 = env.client.call(alice, "max@1{}", [u])
    assert env.client.reveal(alice, res2) == a.max()
    with pytest.raises(grpc.RpcError) as ei:
        env.client.call(alice, "sum@1{}", [half_uuid])
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND
    # The uuid of the half upload is free again: a full upload now succeeds.
    env.client.put(alice, half_uuid, half_key, tds.npy_bytes(np.ones(3)))
    assert env.client.reveal(alice, env.client.call(alice, "sum@1{}", [half_uuid])) == 3.0

    # A second kill -9 and restart: everything committed is still there.
    env.restart_teeud(kill=True)
    np.testing.assert_array_equal(env.client.reveal(alice, res), a.sum(axis=0))
    assert env.client.reveal(alice, res2) == a.max()


def test_client_abandoning_an_upload_leaves_nothing(env):
    alice = env.register()
    data_uuid, key = env.create(alice)
    # The stream ends (half-close) before the final segment.
    with pytest.raises(grpc.RpcError) as ei:
        env.client.put(alice, data_uuid, key, b"\x01" * (5 << 20), stop_after=2)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "before the final segment" in ei.value.details()
    assert _tmp_files(env) == []
    with pytest.raises(grpc.RpcError) as ei:
        env.client.call(alice, "sum@1{}", [data_uuid])
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND
    # The client cancels (RST_STREAM) in the middle of an upload.
    half_uuid, half_key, release, t, outcome = _start_stalled_upload(env, alice)
    env.client.channel.close()
    release.set()
    t.join(30)
    deadline = time.time() + 10
    while _tmp_files(env) and time.time() < deadline:
        time.sleep(0.05)
    assert _tmp_files(env) == []
    env.client = tds.TeeudClient(env.pb, env.teeud.address)
    env.client.put(alice, half_uuid, half_key, tds.npy_bytes(np.ones(2)))


def test_sigterm_during_upload_stops_cleanly(env):
    alice = env.register()
    u = env.put_array(alice, np.arange(5.0))
    half_uuid, _, release, t, outcome = _start_stalled_upload(env, alice)
    assert env.teeud.stop(timeout=30) == 0, env.teeud.log()
    release.set()
    t.join(30)
    assert "resp" not in outcome
    assert _tmp_files(env) == []
    env.start_teeud()
    assert env.client.reveal(alice, env.client.call(alice, "sum@1{}", [u])) == 10.0
    with pytest.raises(grpc.RpcError) as ei:
        env.client.call(alice, "sum@1{}", [half_uuid])
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND


def test_stalled_upload_is_dropped_and_uploads_are_bounded(tool, pb, tmp_path):
    e = tds.Env(tool, pb, tmp_path, teeud_extra=["--stall-timeout-ms", "1500", "--max-concurrent-uploads", "1"])
    try:
        alice = e.register()
        half_uuid, half_key, release, t, outcome = _start_stalled_upload(e, alice)
        # While it runs, a second upload is refused with a clear error.
        d2, k2 = e.create(alice)
        with pytest.raises(grpc.RpcError) as ei:
            e.client.put(alice, d2, k2, tds.npy_bytes(np.ones(2)))
        assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max-concurrent-uploads" in ei.value.details()
        # The stalled one is dropped after the stall timeout, and leaves nothing.
        deadline = time.time() + 20
        while _tmp_files(e) and time.time() < deadline:
            time.sleep(0.1)
        assert _tmp_files(e) == []
        release.set()
        t.join(30)
        assert "error" in outcome and "stalled" in outcome["error"].details(), outcome
        e.client.put(alice, d2, k2, tds.npy_bytes(np.ones(2)))
        e.client.put(alice, half_uuid, half_key, tds.npy_bytes(np.ones(2)))
    finally:
        e.close()


def test_damaged_metadata_is_ignored_not_trusted(env):
    import json
    alice = env.register()
    good = env.put_array(alice, np.arange(4.0))
    bad = env.put_array(alice, np.arange(6.0))
    meta = env.teeud_state / "objects" / f"{bad}.json"
    m = json.loads(meta.read_text())
    m["plaintext_size"] += 1 << 20  # would make a reader run past its buffer
    meta.write_text(json.dumps(m))
    env.restart_teeud(kill=True)
    assert "inconsistent segment layout" in env.teeud.log()
    with pytest.raises(grpc.RpcError) as ei:
        env.client.call(alice, "sum@1{}", [bad])
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND
    assert env.client.reveal(alice, env.client.call(alice, "sum@1{}", [good])) == 6.0
