"""Hand-made protobuf wire bytes for the span scanner tests: encoders and a random request builder.

The builder mixes the protobuf classes (scopes, events, links, leaf values) with hand-encoded
fields so that it can produce what a serializer never does but a peer may send: fields out of
order (a ``resource`` after ``scope_spans``), singular fields and sub-messages repeated (last wins,
or merged), keys repeated, unknown fields (groups included) anywhere, ``KeyValue`` without value.
"""

from __future__ import annotations

import random
import struct

from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def ld(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return tag(field, LEN) + varint(len(data)) + data


def vint(field: int, value: int) -> bytes:
    return tag(field, VARINT) + varint(value)


def fixed64(field: int, value: int) -> bytes:
    return tag(field, I64) + struct.pack("<Q", value & ((1 << 64) - 1))


def double(field: int, value: float) -> bytes:
    return tag(field, I64) + struct.pack("<d", value)


def fixed32(field: int, value: int) -> bytes:
    return tag(field, I32) + struct.pack("<I", value & 0xFFFFFFFF)


def group(field: int, body: bytes = b"") -> bytes:
    return tag(field, SGROUP) + body + tag(field, EGROUP)


# Field numbers no message of the trace schema uses (unknown everywhere).
UNKNOWN_FIELDS = (17, 20, 99, 1000, 536_870_911)


def unknown_field(rng: random.Random) -> bytes:
    field = rng.choice(UNKNOWN_FIELDS)
    kind = rng.randrange(6)
    if kind == 0:
        return vint(field, rng.getrandbits(64))
    if kind == 1:
        return fixed64(field, rng.getrandbits(64))
    if kind == 2:  # unknown payloads are never checked: not even for UTF-8
        return ld(field, rng.randbytes(rng.randrange(12)) + b"\xff")
    if kind == 3:
        return fixed32(field, rng.getrandbits(32))
    if kind == 4:
        return group(field, vint(1, 5) + ld(2, b"\xfe") + group(3))
    return group(field)


class RandomRequest:
    """Random ExportTraceServiceRequest bytes over a pool of attribute keys."""

    def __init__(self, rng: random.Random, keys: list[str]) -> None:
        self.rng = rng
        self.keys = [*keys, "", "other.key", "ключ.ü", "gen_ai.unknown.key"]

    # -- values ---------------------------------------------------------------------------------
    def text(self) -> str:
        rng = self.rng
        kind = rng.randrange(5)
        if kind == 0:
            return ""
        if kind == 1:  # long enough for a two-byte length prefix
            return "x" * rng.randrange(120, 300)
        if kind == 2:
            return rng.choice(("naïve", "模型", "emoji 🙂", "\u0000nul", "\U0010ffff"))
        return rng.choice(("gpt-4o", "chat", "openai", "stop", "resp_1")) + str(rng.randrange(3))

    def scalar(self) -> common_pb2.AnyValue:
        rng = self.rng
        kind = rng.randrange(7)
        if kind == 0:
            return common_pb2.AnyValue(string_value=self.text())
        if kind == 1:
            return common_pb2.AnyValue(bool_value=rng.random() < 0.5)
        if kind == 2:
            return common_pb2.AnyValue(
                int_value=rng.choice((0, 1, -1, 255, 256, 2**31, -(2**63), 2**63 - 1, rng.getrandbits(40)))
            )
        if kind == 3:
            return common_pb2.AnyValue(
                double_value=rng.choice(
                    (0.0, -0.0, 1.5, -2.25e300, float("inf"), float("-inf"), rng.random())
                )
            )
        if kind == 4:
            return common_pb2.AnyValue(bytes_value=rng.randbytes(rng.randrange(0, 20)))
        if kind == 5:
            return common_pb2.AnyValue(string_value_strindex=rng.randrange(5))
        return common_pb2.AnyValue()

    def any_value(self, depth: int = 0) -> common_pb2.AnyValue:
        rng = self.rng
        roll = rng.random()
        if roll < 0.15 and depth < 3:
            return common_pb2.AnyValue(
                array_value=common_pb2.ArrayValue(
                    values=[self.any_value(depth + 1) for _ in range(rng.randrange(4))]
                )
            )
        if roll < 0.22 and depth < 3:
            return common_pb2.AnyValue(
                kvlist_value=common_pb2.KeyValueList(
                    values=[
                        common_pb2.KeyValue(key=rng.choice(self.keys), value=self.any_value(depth + 1))
                        for _ in range(rng.randrange(3))
                    ]
                )
            )
        return self.scalar()

    def any_value_bytes(self) -> bytes:
        """One AnyValue body, with extras: unknown fields, a oneof set twice."""
        rng = self.rng
        data = self.any_value().SerializeToString()
        if rng.random() < 0.1:
            data = self.any_value().SerializeToString() + data  # the later field wins
        if rng.random() < 0.1:
            data = data + unknown_field(rng) if rng.random() < 0.5 else unknown_field(rng) + data
        return data

    def key_value(self) -> bytes:
        rng = self.rng
        key = rng.choice(self.keys)
        fields = [ld(1, key)]
        roll = rng.random()
        if roll < 0.06:
            pass  # no value
        elif roll < 0.14:  # two value fields: merged (arrays concatenate)
            fields += [ld(2, self.any_value_bytes()), ld(2, self.any_value_bytes())]
        else:
            fields.append(ld(2, self.any_value_bytes()))
        if rng.random() < 0.05:
            fields.insert(0, ld(1, rng.choice(self.keys)))  # the later key wins
        if rng.random() < 0.05:
            fields.append(vint(3, rng.randrange(5)))  # key_strindex
        if rng.random() < 0.05:
            fields.append(unknown_field(rng))
        if rng.random() < 0.15:
            fields.reverse()  # value before key
        return b"".join(fields)

    def attributes(self, field: int, n: int) -> list[bytes]:
        return [ld(field, self.key_value()) for _ in range(n)]

    # -- messages -------------------------------------------------------------------------------
    def span(self) -> bytes:
        rng = self.rng
        fields = [
            ld(1, rng.randbytes(16)),
            ld(2, rng.randbytes(8)),
            fixed64(7, rng.getrandbits(64)),
            fixed64(8, rng.getrandbits(64)),
            ld(5, self.text()),
            vint(6, rng.randrange(6)),
        ]
        if rng.random() < 0.5:
            fields.append(ld(4, rng.randbytes(8)))
        if rng.random() < 0.3:
            fields.append(ld(3, "rojo=00f067aa0ba902b7"))
        fields += self.attributes(9, rng.randrange(0, 8))
        for _ in range(rng.randrange(3)):  # status: several merge, the last code wins
            status = b""
            if rng.random() < 0.8:
                status += vint(3, rng.choice((0, 1, 2, 7, 2**31 + 5, -3)))
            if rng.random() < 0.3:
                status += ld(2, self.text())
            fields.append(ld(15, status))
        if rng.random() < 0.2:
            event = trace_pb2.Span.Event(time_unix_nano=5, name=self.text(), attributes=[])
            fields.append(ld(11, event.SerializeToString() + b"".join(self.attributes(3, 2))))
        if rng.random() < 0.2:
            link = trace_pb2.Span.Link(trace_id=rng.randbytes(16), span_id=rng.randbytes(8), flags=1)
            fields.append(ld(13, link.SerializeToString() + b"".join(self.attributes(4, 1))))
        if rng.random() < 0.2:
            fields.append(fixed32(16, 0x301))
        if rng.random() < 0.1:
            fields.append(vint(10, 3))
        if rng.random() < 0.1:
            fields.append(ld(5, self.text()))  # name twice: the last wins
        if rng.random() < 0.1:
            fields.append(fixed64(7, 12345))  # start twice
        if rng.random() < 0.05:
            fields.append(vint(7, 99))  # a known field with another wire type: unknown, skipped
        if rng.random() < 0.15:
            fields.append(unknown_field(rng))
        rng.shuffle(fields)
        return b"".join(fields)

    def scope_spans(self) -> bytes:
        rng = self.rng
        fields = [ld(2, self.span()) for _ in range(rng.randrange(0, 5))]
        if rng.random() < 0.7:
            scope = common_pb2.InstrumentationScope(name="otel_llm.openai", version="0.1.0")
            fields.append(ld(1, scope.SerializeToString() + b"".join(self.attributes(3, rng.randrange(2)))))
        if rng.random() < 0.2:
            fields.append(ld(3, "https://opentelemetry.io/schemas/1.30.0"))
        if rng.random() < 0.1:
            fields.append(unknown_field(rng))
        rng.shuffle(fields)
        return b"".join(fields)

    def resource_spans(self) -> bytes:
        rng = self.rng
        fields = [ld(2, self.scope_spans()) for _ in range(rng.randrange(0, 3))]
        for _ in range(rng.choice((0, 1, 1, 1, 2))):  # several resource fields merge
            resource = b"".join(self.attributes(1, rng.randrange(0, 4)))
            if rng.random() < 0.2:
                resource += vint(2, 1)
            if rng.random() < 0.1:
                resource += ld(3, ld(1, "schema") + ld(2, "service") + ld(3, "service.name"))
            fields.append(ld(1, resource))
        if rng.random() < 0.2:
            fields.append(ld(3, "https://opentelemetry.io/schemas/1.30.0"))
        if rng.random() < 0.1:
            fields.append(unknown_field(rng))
        rng.shuffle(fields)  # the resource after scope_spans, often
        return b"".join(fields)

    def request(self) -> bytes:
        rng = self.rng
        fields = [ld(1, self.resource_spans()) for _ in range(rng.randrange(0, 4))]
        if rng.random() < 0.1:
            fields.insert(rng.randrange(len(fields) + 1), unknown_field(rng))
        return b"".join(fields)


def wire_soup(rng: random.Random, depth: int = 0, fields: int | None = None) -> bytes:
    """Random field streams nested at random: every field number of the schema with any wire type,
    sub-messages in length-delimited payloads, odd strings, groups, field 0, bad wire types."""
    out = bytearray()
    for _ in range(rng.randrange(6) if fields is None else fields):
        field = rng.choice((1, 1, 2, 2, 3, 4, 5, 7, 8, 9, 9, 15, 16, 0, 99))
        roll = rng.random()
        if roll < 0.45:
            if depth < 6 and rng.random() < 0.7:
                payload = wire_soup(rng, depth + 1)
            else:
                payload = rng.choice(
                    (b"", b"ok", "ü".encode(), b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", rng.randbytes(3))
                )
            out += ld(field, payload)
        elif roll < 0.65:
            out += vint(field, rng.choice((0, 1, 300, 2**63, -1)))
        elif roll < 0.75:
            out += fixed64(field, rng.getrandbits(64))
        elif roll < 0.83:
            out += fixed32(field, rng.getrandbits(32))
        elif roll < 0.9:
            out += group(field, wire_soup(rng, depth + 1) if depth < 6 else b"")
        elif roll < 0.93:
            out += tag(field, rng.choice((EGROUP, 6, 7)))
        else:
            out += rng.randbytes(rng.randrange(1, 3))
    return bytes(out)
