"""teeu_delete: the owner of an object (or the requester of a result)
removes it from the TEEU, durably; everybody else is refused with a clear
error, and a deleted object is gone for calls, reveals and a second delete."""
import numpy as np
import pytest

from client_support import ERR, Cluster, Func, Obj, TeeuError

AVG = ("average", '{"axis":1}')


@pytest.fixture(scope="module")
def cluster(tool, tmp_path_factory, libteeu_path):
    c = Cluster(tool, tmp_path_factory.mktemp("client-delete"), libteeu_path).start()
    yield c
    c.stop()


def files_of(cluster, uuid):
    return [f for f in cluster.spool_files() if uuid in f]


def test_owner_deletes_object_and_it_is_gone(cluster):
    alice = cluster.client("alice")
    avg = Func(cluster.lib, *AVG)
    a = alice.put(np.arange(12.0).reshape(4, 3), [avg])
    uuid = a.handle.rsplit("/", 1)[1]
    assert files_of(cluster, uuid), cluster.spool_files()
    alice.delete(a)
    assert files_of(cluster, uuid) == []
    with pytest.raises(TeeuError) as e:
        alice.call(avg, [a])
    assert e.value.status == ERR["NOT_FOUND"], e.value.message
    with pytest.raises(TeeuError) as e:
        alice.delete(a)
    assert e.value.status == ERR["NOT_FOUND"]
    assert uuid in e.value.message and "teeu_delete" in e.value.message, e.value.message


def test_deletion_survives_a_teeud_restart(cluster):
    alice = cluster.client("alice")
    avg = Func(cluster.lib, *AVG)
    kept, gone = alice.put(np.ones((4, 3)), [avg]), alice.put(np.zeros((4, 3)), [avg])
    alice.delete(gone)
    cluster.teeud.stop()
    cluster.start_teeud(port=cluster.teeud_port)
    with pytest.raises(TeeuError) as e:
        alice.delete(gone)
    assert e.value.status == ERR["NOT_FOUND"]
    np.testing.assert_array_equal(alice.reveal(alice.call(avg, [kept])), np.ones((1, 3)))


def test_only_the_owner_may_delete_an_object(cluster):
    alice, bob = cluster.client("alice"), cluster.client("bob")
    avg = Func(cluster.lib, *AVG)
    a = alice.put(np.full((4, 3), 2.0), [avg])
    with pytest.raises(TeeuError) as e:
        bob.delete(Obj.from_string(cluster.lib, a.handle))
    assert e.value.status == ERR["NOT_AUTHORIZED"]
    assert alice.owner_id in e.value.message and "owner" in e.value.message, e.value.message
    np.testing.assert_array_equal(alice.reveal(alice.call(avg, [a])), np.full((1, 3), 2.0))


def test_requester_deletes_a_result_input_owner_may_not(cluster):
    alice, bob = cluster.client("alice"), cluster.client("bob")
    avg = Func(cluster.lib, *AVG)
    a, b = alice.put(np.ones((4, 3)), [avg]), bob.put(np.zeros((4, 3)), [avg])
    r = alice.call(avg, [a, Obj.from_string(cluster.lib, b.handle)])
    r_bob = Obj.from_string(cluster.lib, r.handle)
    np.testing.assert_array_equal(bob.reveal(r_bob), np.array([[1.0] * 3, [0.0] * 3]))
    with pytest.raises(TeeuError) as e:
        bob.delete(r_bob)  # Bob may reveal it, but Alice asked for it
    assert e.value.status == ERR["NOT_AUTHORIZED"]
    alice.delete(r)
    with pytest.raises(TeeuError) as e:
        bob.reveal(r_bob)
    assert e.value.status == ERR["NOT_FOUND"]
    # The inputs are untouched.
    np.testing.assert_array_equal(alice.reveal(alice.call(avg, [a])), np.ones((1, 3)))


def test_object_on_another_teeu_is_refused_locally(cluster):
    alice = cluster.client("alice")
    other = Obj.from_string(cluster.lib, "teeu://127.0.0.1:1/" + "ab" * 16)
    calls = alice.stats()["teeu_calls"]
    with pytest.raises(TeeuError) as e:
        alice.delete(other)
    assert e.value.status == ERR["INVALID_ARGUMENT"]
    assert "127.0.0.1:1" in e.value.message
    assert alice.stats()["teeu_calls"] == calls
