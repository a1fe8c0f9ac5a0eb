"""teeud recycles the files of deleted objects (--recycle-mb): the next
large upload overwrites one instead of allocating fresh pages, cut to its
own size; small files, files being read, and anything over the cap are
unlinked; start-up empties spare/."""
import os

import numpy as np
import pytest

import teeud_support as tds

MIB = 1 << 20


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return tds.generate_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture
def make_env(tool, pb, tmp_path):
    envs = []

    def make(*extra):
        root = tmp_path / f"e{len(envs)}"
        root.mkdir()
        e = tds.Env(tool, pb, root, teeud_extra=list(extra))
        envs.append(e)
        return e

    yield make
    for e in envs:
        assert e.close() == (0, 0), e.teeud.log()


def spares(env):
    d = env.teeud_state / "spare"
    return sorted(d.iterdir()) if d.exists() else []


def seg_file(env, kind, uuid):
    return env.teeud_state / kind / f"{uuid}.seg"


def stored_size(arr, segment=MIB):
    n = len(tds.npy_bytes(arr))
    return n + (n // segment + 1) * 16


def test_next_large_upload_overwrites_a_deleted_objects_file(make_env):
    env = make_env()
    alice = env.register()
    big = np.random.default_rng(1).random(512 * 1024)  # 4 MiB
    u = env.put_array(alice, big)
    inode = seg_file(env, "objects", u).stat().st_ino
    env.client.delete(alice, u)
    assert not seg_file(env, "objects", u).exists()
    (kept,) = spares(env)
    assert kept.stat().st_ino == inode and kept.stat().st_size == stored_size(big)

    smaller = np.arange(300_000, dtype=np.float64).reshape(1000, 300)  # 2.3 MiB: the spare is cut to it
    v = env.put_array(alice, smaller)
    f = seg_file(env, "objects", v)
    assert spares(env) == []
    assert f.stat().st_ino == inode and f.stat().st_size == stored_size(smaller)
    r = env.client.call(alice, 'sum@1{"axis":0}', [v])
    np.testing.assert_array_equal(env.client.reveal(alice, r), smaller.sum(axis=0))


def test_small_files_are_unlinked_and_small_uploads_take_no_spare(make_env):
    env = make_env()
    alice = env.register()
    env.client.delete(alice, env.put_array(alice, np.ones((4, 3))))
    assert spares(env) == []
    env.client.delete(alice, env.put_array(alice, np.ones(256 * 1024)))  # 2 MiB
    (kept,) = spares(env)
    u = env.put_array(alice, np.ones((4, 3)))
    assert spares(env) == [kept]
    assert seg_file(env, "objects", u).stat().st_ino != kept.stat().st_ino


def test_cap_keeps_the_newest_and_zero_turns_it_off(make_env):
    env = make_env("--recycle-mb", "5")
    alice = env.register()
    inodes = []
    for i in range(3):
        u = env.put_array(alice, np.full(384 * 1024, float(i)))  # 3 MiB each: one fits under 5 MiB
        inodes.append(seg_file(env, "objects", u).stat().st_ino)
        env.client.delete(alice, u)
    assert [p.stat().st_ino for p in spares(env)] == [inodes[-1]]

    off = make_env("--recycle-mb", "0")
    bob = off.register()
    off.client.delete(bob, off.put_array(bob, np.ones(512 * 1024)))
    assert spares(off) == []


def test_restart_empties_spare(make_env):
    env = make_env()
    alice = env.register()
    env.client.delete(alice, env.put_array(alice, np.ones(512 * 1024)))
    assert len(spares(env)) == 1
    env.restart_teeud(kill=False)
    assert spares(env) == []
    env.restart_teeud(kill=True)  # and after a crash
    assert spares(env) == []


def test_a_file_being_revealed_is_never_recycled(make_env):
    """A result deleted while a Reveal still streams it is unlinked (the
    reader keeps its pages), so a new upload cannot overwrite it mid-read."""
    env = make_env()
    alice = env.register()
    a = np.random.default_rng(2).random(4 * MIB)  # 32 MiB: more than gRPC's windows hold
    r = env.client.call(alice, 'stack@1{"axis":0}', [[env.put_array(alice, a)]])
    inode = seg_file(env, "results", r).stat().st_ino

    def delete_and_upload():
        env.client.delete(alice, r)
        assert inode not in [p.stat().st_ino for p in spares(env)]
        env.put_array(alice, np.full(4 * MIB, 7.0))  # would take the file if it were a spare

    got = env.client.reveal(alice, r, after_first=delete_and_upload)
    np.testing.assert_array_equal(got, a[np.newaxis])
