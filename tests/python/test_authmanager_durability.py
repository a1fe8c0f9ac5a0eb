"""teeu-authmanager under load and crashes: kill -9 during a stream of
creates loses nothing acknowledged and shows nothing half-written; 8
concurrent clients x 200 creates complete without error or loss; a clean
restart keeps everything."""
import concurrent.futures
import threading
import time

import pytest

import authmanager_support as ams

FUNC = ams.function_code('average@1{"axis":1}')


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return ams.generate_stubs(tmp_path_factory.mktemp("stubs"))


def register(client, party):
    code = client.stub.RegisterInsPubKey(party.register_request(), timeout=30).status.code
    assert code in (ams.OK, ams.ALREADY_EXISTS)


def precompute(party, am_key, n):
    """Signing is the client's cost: build the requests before the clock starts."""
    return [party.create_request(am_key, functions=[FUNC]) for _ in range(n)]


def fetch_keys(pb, client, requester, uuids, batch=200):
    """GetComputeMeta over uuids in batches; returns {uuid: data_key} and the refusals."""
    found, refused = {}, {}
    for i in range(0, len(uuids), batch):
        chunk = uuids[i:i + batch]
        teeu = ams.Teeu(pb)
        resp = client.stub.GetComputeMeta(teeu.request(chunk, FUNC, requester), timeout=120)
        if resp.status.code != ams.OK:
            refused[tuple(chunk)] = (resp.status.code, resp.status.message)
            continue
        cm = teeu.open(resp)
        for u, m in zip(chunk, cm.input_metas):
            assert m.data_uri_with_dks.data_uuid == u
            found[u] = ams.data_key_of(m)
    return found, refused


def test_kill9_during_creates_loses_nothing_acknowledged(pb, tool, tmp_path):
    state = tmp_path / "state"
    d = ams.Daemon(tool("teeu-authmanager"), state, ["--simulation"]).start()
    client = ams.Client(pb, d.address)
    party = ams.Party(pb)
    register(client, party)
    am_key, _, _ = client.am_key()
    reqs = precompute(party, am_key, 120)
    acked, sent = [], []
    stop = threading.Event()
    errors = []

    def stream(offset):
        c = ams.Client(pb, d.address)
        try:
            for req, u, k in reqs[offset::3]:
                if stop.is_set():
                    return
                sent.append((u, k))
                try:
                    resp = c.stub.CreateDataWithAuth(req, timeout=30)
                except Exception:  # the daemon died under us: not acknowledged
                    return
                if resp.status.code != ams.OK:
                    errors.append(resp.status.message)
                    return
                acked.append((u, k))
        finally:
            c.close()

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while len(acked) < 40 and time.time() < deadline and not errors:
        time.sleep(0.01)
    d.kill()  # SIGKILL mid-stream
    stop.set()
    for t in threads:
        t.join(30)
    client.close()
    assert not errors, errors
    assert len(acked) >= 40, d.log()
    assert len(sent) > len(acked) or len(sent) == len(reqs)

    d2 = ams.Daemon(tool("teeu-authmanager"), state, ["--simulation"]).start()
    try:
        client = ams.Client(pb, d2.address)
        # the service key survived: the same AuthManager key is served
        am_key2, _, _ = client.am_key()
        assert ams.spki_pem(am_key2) == ams.spki_pem(am_key)
        found, refused = fetch_keys(pb, client, party.owner_id, [u for u, _ in acked])
        assert not refused, refused
        assert found == dict(acked)
        # in-flight creates are either wholly there (same key) or absent: never half-written
        for u, k in sent:
            if u in found:
                continue
            teeu = ams.Teeu(pb)
            resp = client.stub.GetComputeMeta(teeu.request([u], FUNC, party.owner_id), timeout=60)
            assert resp.status.code in (ams.OK, ams.NOT_FOUND), resp.status.message
            if resp.status.code == ams.OK:
                assert ams.data_key_of(teeu.open(resp).input_metas[0]) == k
        client.close()
    finally:
        assert d2.stop() == 0, d2.log()


def test_eight_clients_200_creates_each(pb, tool, tmp_path):
    d = ams.Daemon(tool("teeu-authmanager"), tmp_path / "state", ["--simulation"]).start()
    try:
        client = ams.Client(pb, d.address)
        am_key, _, _ = client.am_key()
        parties = [ams.Party(pb) for _ in range(8)]
        for p in parties:
            register(client, p)
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            work = list(ex.map(lambda p: precompute(p, am_key, 200), parties))

        def run(reqs):
            c = ams.Client(pb, d.address)
            try:
                codes = [c.stub.CreateDataWithAuth(req, timeout=60).status for req, _, _ in reqs]
            finally:
                c.close()
            return [(s.code, s.message) for s in codes]

        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            results = list(ex.map(run, work))
        elapsed = time.time() - t0
        bad = [r for rs in results for r in rs if r[0] != ams.OK]
        assert not bad, bad[:5]
        print(f"8 clients x 200 creates: {elapsed:.2f} s, {1600 / elapsed:.0f} creates/s")

        expected = {u: k for reqs in work for _, u, k in reqs}
        assert len(expected) == 1600
        found, refused = fetch_keys(pb, client, parties[0].owner_id, list(expected))
        assert not refused, list(refused.values())[:3]
        assert found == expected
        client.close()
    finally:
        assert d.stop() == 0, d.log()

    # a clean restart keeps everything too
    d = ams.Daemon(tool("teeu-authmanager"), tmp_path / "state", ["--simulation"]).start()
    try:
        client = ams.Client(pb, d.address)
        sample = list(expected)[::50]
        found, refused = fetch_keys(pb, client, parties[0].owner_id, sample)
        assert not refused
        assert found == {u: expected[u] for u in sample}
        client.close()
    finally:
        assert d.stop() == 0, d.log()


def test_tampered_store_releases_nothing(pb, tool, tmp_path):
    """GetComputeMeta re-verifies the stored signatures: widening a stored
    DataAuth or swapping a stored segment signature behind the service's back
    is refused (PERMISSION_DENIED), not served."""
    import sqlite3
    state = tmp_path / "state"
    d = ams.Daemon(tool("teeu-authmanager"), state, ["--simulation"]).start()
    client = ams.Client(pb, d.address)
    alice, bob = ams.Party(pb), ams.Party(pb)
    register(client, alice)
    register(client, bob)
    am_key, _, _ = client.am_key()
    r1, u1, _ = alice.create_request(am_key, functions=[FUNC], allowed_ins_ids=[alice.owner_id])
    r2, u2, k2 = alice.create_request(am_key, functions=[FUNC], allowed_ins_ids=[alice.owner_id])
    for r in (r1, r2):
        assert client.stub.CreateDataWithAuth(r, timeout=30).status.code == ams.OK
    client.close()
    assert d.stop() == 0

    db = sqlite3.connect(state / "authmanager.db")
    auth = pb["sdc_pb2"].DataAuth()
    auth.ParseFromString(db.execute("SELECT auth FROM data_auths WHERE data_uuid=?", (u1,)).fetchone()[0])
    auth.allowed_ins_ids.append(bob.owner_id)
    db.execute("UPDATE data_auths SET auth=? WHERE data_uuid=?", (auth.SerializeToString(), u1))
    meta = pb["sdc_pb2"].DataMeta()
    meta.ParseFromString(db.execute("SELECT meta FROM data_metas WHERE data_uuid=?", (u2,)).fetchone()[0])
    meta.partition_data[0].segment_data[0].signature = ams.sign(bob.key, b"forged")
    db.execute("UPDATE data_metas SET meta=? WHERE data_uuid=?", (meta.SerializeToString(), u2))
    db.commit()
    db.close()

    d = ams.Daemon(tool("teeu-authmanager"), state, ["--simulation"]).start()
    try:
        client = ams.Client(pb, d.address)
        teeu = ams.Teeu(pb)
        resp = client.stub.GetComputeMeta(teeu.request([u1], FUNC, bob.owner_id), timeout=60)
        assert resp.status.code == ams.PERMISSION_DENIED
        assert "DataAuth signature" in resp.status.message
        resp = client.stub.GetComputeMeta(teeu.request([u2], FUNC, alice.owner_id), timeout=60)
        assert resp.status.code == ams.PERMISSION_DENIED
        assert "segment signature" in resp.status.message
        assert not resp.HasField("encrypted_response")
        client.close()
    finally:
        assert d.stop() == 0, d.log()
