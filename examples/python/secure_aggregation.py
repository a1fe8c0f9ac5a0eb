#!/usr/bin/env python3
"""The seed's secure aggregation, line for line, with the `teeu` package.

SecretFlow (the seed):                       here:
    sf.init(cluster_config=..., ...)             teeu.init(cluster_config=..., ...)
    alice, bob = sf.PYU('alice'), sf.PYU('bob')  alice, bob = teeu.PYU('alice'), teeu.PYU('bob')
    teeu = sf.TEEU('carol', mr_enclave=...)      carol = teeu.TEEU('carol', mr_enclave=...)
    def average(data):                           average = teeu.func('average', axis=1)
        return np.average(data, axis=1)
    a = alice(lambda: np.random.random([4, 3]))()   (same)
    a_tee = a.to(teeu, allow_funcs=average)      a_tee = a.to(carol, allow_funcs=average)
    avg = teeu(average)([a_tee, b_tee])          avg = carol(average)([a_tee, b_tee])
    sf.reveal(avg)                               teeu.reveal(avg)

It needs a running teeu-authmanager and teeud (simulation), e.g. as
examples/python/run_secure_aggregation.sh starts them. Where they are comes
from the arguments or the environment:

    --am HOST:PORT        TEEU_AM_ADDRESS     the AuthManager
    --am-mr HEX           TEEU_AM_MRENCLAVE   its MRENCLAVE ("" = unchecked, simulation only)
    --teeu HOST:PORT      TEEU_TEEU_ADDRESS   teeud (Carol's TEEU)
    --teeu-mr HEX         TEEU_TEEU_MRENCLAVE its MRENCLAVE
    --sim-root PEM        TEEU_SIM_ROOT       the simulation attestation authority's root
    --alice-key PEM, --bob-key PEM            the parties' RSA-3072 keys (default: generated)
    --library PATH        TEEU_LIBRARY        libteeu.so (default: build tree or installed)

Exit status 0 when the revealed average matches numpy's plaintext average.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

try:
    import teeu
except ImportError:  # run from a checkout without installing: use bindings/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
    import teeu


def parse_args():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--am", default=env("TEEU_AM_ADDRESS"), help="AuthManager host:port")
    p.add_argument("--am-mr", default=env("TEEU_AM_MRENCLAVE", ""), help="AuthManager MRENCLAVE")
    p.add_argument("--teeu", default=env("TEEU_TEEU_ADDRESS"), help="teeud host:port")
    p.add_argument("--teeu-mr", default=env("TEEU_TEEU_MRENCLAVE", ""), help="teeud MRENCLAVE")
    p.add_argument("--sim-root", default=env("TEEU_SIM_ROOT"), help="simulation authority root (PEM)")
    p.add_argument("--alice-key", help="Alice's RSA-3072 private key (PEM)")
    p.add_argument("--bob-key", help="Bob's RSA-3072 private key (PEM)")
    p.add_argument("--library", default=None, help="path of libteeu.so")
    args = p.parse_args()
    if not args.am or not args.teeu:
        p.error("the AuthManager and teeud addresses are needed (--am/--teeu or TEEU_AM_ADDRESS/TEEU_TEEU_ADDRESS)")
    return args


def party_keys(args, workdir):
    """The parties' key files; generated (RSA-3072, as the seed's openssl genrsa) when not given."""
    keys = {}
    for party, given in (("alice", args.alice_key), ("bob", args.bob_key)):
        if given is None:
            given = os.path.join(workdir, f"{party}.key")
            fd = os.open(given, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(teeu.Key.generate(3072).private_pem())
        keys[party] = {"private_key": given}
    return keys


def main():
    args = parse_args()
    if args.library:
        teeu.load_library(args.library)
    with tempfile.TemporaryDirectory(prefix="teeu-example-") as workdir:
        cluster_config = {
            "parties": {
                "alice": {"address": "127.0.0.1:0"},
                "bob": {"address": "127.0.0.1:0"},
                "carol": {"address": args.teeu},
            },
        }
        auth_manager_config = {"host": args.am, "mr_enclave": args.am_mr, "ca_cert": None}

        # sf.init(...)
        teeu.init(
            cluster_config=cluster_config,
            party_key_pair=party_keys(args, workdir),
            auth_manager_config=auth_manager_config,
            tee_simulation=True,
            sim_root=args.sim_root,
        )

        alice = teeu.PYU("alice")
        bob = teeu.PYU("bob")
        carol = teeu.TEEU("carol", mr_enclave=args.teeu_mr)

        # def average(data): return np.average(data, axis=1)
        average = teeu.func("average", axis=1)

        a = alice(lambda: np.random.random([4, 3]))()
        b = bob(lambda: np.random.random([4, 3]))()

        a_tee = a.to(carol, allow_funcs=average)
        b_tee = b.to(carol, allow_funcs=average)

        avg_val = carol(average)([a_tee, b_tee])
        avg_val = teeu.reveal(avg_val)

        expected = np.average([teeu.reveal(a), teeu.reveal(b)], axis=1)
        print("a's handle:", a_tee.handle)
        print("b's handle:", b_tee.handle)
        print("revealed average([a, b], axis=1):")
        print(avg_val)
        teeu.shutdown()
        if avg_val.shape != expected.shape or not np.allclose(avg_val, expected, rtol=0, atol=1e-12):
            print("MISMATCH with the plaintext average:", expected, file=sys.stderr)
            return 1
        print("matches plaintext average")
        return 0


if __name__ == "__main__":
    sys.exit(main())
