"""teeud's PutObject receive path: a put sent in the server's large HTTP/2
DATA frames (hand-driven client, grpc_h2_support) is stored intact, and the
in-place parser of PutObjectRequest{segment} (docs/protocol.md) refuses
malformed segment messages and accepts what protobuf encoders may send."""

import grpc
import numpy as np
import pytest

import grpc_h2_support as gh
import teeud_support as tds

PUT = "/teeu.v1.Teeu/PutObject"


pb, env, alice = tds.module_fixtures()


def port_of(env):
    return int(env.teeud.address.rsplit(":", 1)[1])


@pytest.mark.parametrize("frame_size", [None, 65537])
def test_put_in_large_frames(env, alice, frame_size):
    a = np.arange(3 << 20, dtype="<f8")  # 24 MiB: 13 segments of up to 2 MiB
    plain = tds.npy_bytes(a)
    data_uuid, key = env.create(alice)
    body = b"".join(gh.grpc_frame(r.SerializeToString())
                    for r in env.client.put_requests(alice, data_uuid, key, plain, segment_size=2 << 20))
    call = gh.H2Call(port_of(env), PUT)
    try:
        frames = call.send(body, frame_size=frame_size, end=True)
        if frame_size is None:
            assert frames <= len(body) // (1 << 20) + 4
        msgs, status, message = call.finish()
        assert status == "0", message
    finally:
        call.close()
    r = env.client.t.PutObjectResponse.FromString(msgs[0])
    assert r.data_uuid == data_uuid and r.stored_bytes == len(plain) + 13 * tds.TAG
    assert env.client.reveal(alice, env.client.call(alice, "sum@1{}", [data_uuid])) == a.sum()


# ---- raw PutObjectRequest bytes ------------------------------------------------------

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire_type, payload):
    key = varint(num << 3 | wire_type)
    if wire_type == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def segment_body(index=0, final=True, ct=b"", extra=b""):
    return field(1, 0, varint(index)) + field(2, 0, varint(int(final))) + field(3, 2, ct) + extra


def request(body, extra=b""):
    return field(2, 2, body) + extra


def raw_put(env, msgs):
    call = env.client.channel.stream_unary(PUT, request_serializer=lambda b: b,
                                           response_deserializer=lambda b: b)
    return call(iter(msgs), timeout=60)


def sealed(env, alice, plain):
    """The header bytes and the one sealed segment of a small put."""
    data_uuid, key = env.create(alice)
    reqs = list(env.client.put_requests(alice, data_uuid, key, plain))
    assert len(reqs) == 2
    return data_uuid, reqs[0].SerializeToString(), reqs[1].segment.ciphertext


MALFORMED = {
    "truncated varint key": lambda ct: request(segment_body(ct=ct)) + b"\x80",
    "segment length past the end": lambda ct: field(2, 2, segment_body(ct=ct))[:-1],
    "segment repeated": lambda ct: request(segment_body(ct=ct)) * 2,
    "header and segment": lambda ct: field(1, 2, b"") + request(segment_body(ct=ct)),
    "segment as a varint": lambda ct: field(2, 0, varint(5)),
    "ciphertext repeated": lambda ct: request(segment_body(ct=ct) + field(3, 2, ct)),
    "ciphertext as a varint": lambda ct: request(field(1, 0, b"\x00") + field(2, 0, b"\x01") + field(3, 0, b"\x05")),
    "index too large": lambda ct: request(segment_body(index=1 << 32, ct=ct)),
    "final not a bool": lambda ct: request(field(1, 0, b"\x00") + field(2, 0, b"\x02") + field(3, 2, ct)),
    "index length-delimited": lambda ct: request(field(1, 2, b"\x00") + field(2, 0, b"\x01") + field(3, 2, ct)),
    "ciphertext length past the segment": lambda ct: request(segment_body(ct=ct)[:-1]),
    "field number 0": lambda ct: request(segment_body(ct=ct)) + b"\x00\x00",
    "group wire type": lambda ct: request(segment_body(ct=ct) + varint(9 << 3 | 3)),
    "empty request": lambda ct: b"",
    "overlong varint": lambda ct: request(field(1, 0, b"\x80" * 10 + b"\x00") + field(2, 0, b"\x01") + field(3, 2, ct)),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_segment_messages_refused(env, alice, name):
    data_uuid, header, ct = sealed(env, alice, tds.npy_bytes(np.arange(5.0)))
    with pytest.raises(grpc.RpcError) as ei:
        raw_put(env, [header, MALFORMED[name](ct)])
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT, ei.value.details()
    assert "segment 0:" in ei.value.details() and "nothing was stored" in ei.value.details()
    # Nothing stored: the uuid is still free for a correct put.
    assert not (env.teeud_state / "objects" / f"{data_uuid}.json").exists()


def test_encodings_protobuf_allows_are_accepted(env, alice):
    """Fields in any order, defaults omitted, unknown fields skipped, a
    non-minimal varint: all are valid protobuf and stored as sent."""
    a = np.arange(7.0)
    for variant in ("reordered", "unknown fields", "padded varint"):
        data_uuid, header, ct = sealed(env, alice, tds.npy_bytes(a))
        if variant == "reordered":  # index 0 omitted (proto3 default), ciphertext before final
            msg = request(field(3, 2, ct) + field(2, 0, b"\x01"))
        elif variant == "unknown fields":
            unknown = field(9, 0, varint(300)) + field(10, 2, b"xyz") + field(11, 1, b"\x00" * 8) + \
                field(12, 5, b"\x00" * 4)
            msg = request(segment_body(ct=ct, extra=unknown), extra=field(7, 2, b"later"))
        else:
            msg = request(field(1, 0, b"\x80\x00") + field(2, 0, b"\x81\x00") + field(3, 2, ct))
        r = env.client.t.PutObjectResponse.FromString(raw_put(env, [header, msg]))
        assert r.data_uuid == data_uuid, variant
        assert env.client.reveal(alice, env.client.call(alice, "sum@1{}", [data_uuid])) == a.sum()
