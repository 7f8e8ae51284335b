"""The span scanner: exact values, native (C) == pure Python, and rejecting exactly what upb rejects."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import struct
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from otel_llm_processor.model import spanscan
from otel_llm_processor.model.otlp_json import load_otlp_json
from tests.processor.spanscan_wire import (
    EGROUP,
    SGROUP,
    RandomRequest,
    double,
    fixed32,
    fixed64,
    group,
    ld,
    tag,
    varint,
    vint,
    wire_soup,
)

OTLP_DIR = Path(__file__).resolve().parent.parent / "testdata" / "otlp"
FIXTURES = sorted(OTLP_DIR.glob("*.json"))
REPO = Path(__file__).resolve().parents[2]

needs_native = pytest.mark.skipif(
    spanscan.NativeScanner is None,
    reason="the C extension otel_llm_processor.model._spanscan is not built (no C compiler when the "
    "processor was installed): only the pure-Python scanner is tested",
)
IMPLS = [pytest.param("native", marks=needs_native), "python"]

KEYS = [
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.request.temperature",
    "gen_ai.request.stream",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "service.name",
    "http.method",
]
N_TRIGGER = 7  # the gen_ai.* keys


def make(impl: str, keys: list[str] = KEYS, n_trigger: int = N_TRIGGER) -> Any:
    cls = spanscan.NativeScanner if impl == "native" else spanscan.PyScanner
    return cls(keys, n_trigger)


def norm(value: Any) -> Any:
    """Comparable form: floats by repr (nan == nan, -0.0 != 0.0), containers keep their type."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [norm(v) for v in value])
    return value


def outcome(scanner: Any, data: bytes) -> Any:
    try:
        return norm(scanner.scan(data))
    except ValueError:
        return "ValueError"


def upb_accepts(data: bytes) -> bool:
    try:
        ExportTraceServiceRequest().ParseFromString(data)
    except DecodeError:
        return False
    return True


def kv(key: str, **value: Any) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(**value))


TRACE_A, TRACE_B = bytes(range(16)), bytes(range(16, 32))


def hand_built_request() -> bytes:
    finish = common_pb2.ArrayValue(
        values=[
            common_pb2.AnyValue(string_value="stop"),
            common_pb2.AnyValue(int_value=1),
            common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=[kv("a", int_value=1)])),
            common_pb2.AnyValue(array_value=common_pb2.ArrayValue()),
            common_pb2.AnyValue(),
        ]
    )
    llm = trace_pb2.Span(
        trace_id=TRACE_A,
        span_id=b"\x01" * 8,
        parent_span_id=b"\x02" * 8,
        name="chat gpt-4o",
        kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=2**64 - 1,
        attributes=[
            kv("gen_ai.operation.name", string_value="chat"),
            kv("gen_ai.request.model", string_value="gpt-4o"),
            kv("gen_ai.usage.input_tokens", int_value=-1200),
            kv("gen_ai.request.temperature", double_value=0.5),
            kv("gen_ai.request.stream", bool_value=False),
            kv("gen_ai.response.finish_reasons", array_value=finish),
            kv("gen_ai.response.id", bytes_value=b"\x00\xff"),
            kv("http.method", string_value="POST"),
            kv("unrelated.key", string_value="ignored"),
        ],
        events=[trace_pb2.Span.Event(name="gen_ai.choice", attributes=[kv("x", string_value="y")])],
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message="boom"),
    )
    http = trace_pb2.Span(
        trace_id=TRACE_A,
        span_id=b"\x03" * 8,
        name="GET /",
        attributes=[kv("http.method", string_value="GET"), kv("service.name", string_value="web")],
    )
    minimal = trace_pb2.Span(
        attributes=[
            kv("gen_ai.operation.name", string_value="embeddings"),
            kv("gen_ai.request.model", kvlist_value=common_pb2.KeyValueList()),
            kv("gen_ai.request.stream"),  # no value
        ]
    )
    repeated = trace_pb2.Span(
        trace_id=TRACE_B,
        span_id=b"\x04" * 8,
        name="模型",
        attributes=[
            kv("gen_ai.request.model", string_value="a"),
            kv("gen_ai.request.model", string_value="b"),
            kv("gen_ai.operation.name", string_value="chat"),
            common_pb2.KeyValue(key="gen_ai.operation.name"),
            kv("gen_ai.usage.input_tokens", int_value=5),
            kv("gen_ai.usage.input_tokens", string_value_strindex=3),
        ],
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_OK),
    )
    other_resource_span = trace_pb2.Span(
        trace_id=TRACE_B, span_id=b"\x05" * 8, attributes=[kv("gen_ai.response.id", string_value="r-1")]
    )
    scope = common_pb2.InstrumentationScope(name="otel_llm.openai", version="0.1.0")
    request = ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(
                    attributes=[
                        kv("service.name", string_value="checkout"),
                        kv("deployment.environment.name", string_value="prod"),
                        kv("gen_ai.request.temperature", double_value=1.0),
                    ]
                ),
                scope_spans=[
                    trace_pb2.ScopeSpans(scope=scope, spans=[llm, http]),
                    trace_pb2.ScopeSpans(spans=[minimal, repeated]),
                ],
            ),
            trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[other_resource_span])]),
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[kv("http.method", int_value=7)])
            ),
        ]
    )
    return request.SerializeToString()


NONE9 = [None] * 9


def slots(**values: Any) -> list[Any]:
    out = list(NONE9)
    for name, value in values.items():
        out[KEYS.index(name.replace("__", "."))] = value
    return out


# --------------------------------------------------------------------------------------------
# Exact values
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_hand_built_request_gives_exact_values(impl):
    span_count, resources, rows = make(impl).scan(hand_built_request())

    assert span_count == 5
    assert resources == [
        slots(service__name="checkout", gen_ai__request__temperature=1.0),
        NONE9,
        slots(http__method=7),
    ]
    assert rows == [
        (
            0,
            TRACE_A,
            b"\x01" * 8,
            b"\x02" * 8,
            1_700_000_000_000_000_000,
            2**64 - 1,
            2,
            "chat gpt-4o",
            slots(
                gen_ai__operation__name="chat",
                gen_ai__request__model="gpt-4o",
                gen_ai__usage__input_tokens=-1200,
                gen_ai__request__temperature=0.5,
                gen_ai__request__stream=False,
                gen_ai__response__finish_reasons=("stop", 1, None, None, None),
                gen_ai__response__id=b"\x00\xff",
                http__method="POST",
            ),
        ),
        (0, b"", b"", b"", 0, 0, 0, "", slots(gen_ai__operation__name="embeddings")),
        (0, TRACE_B, b"\x04" * 8, b"", 0, 0, 1, "模型", slots(gen_ai__request__model="b")),
        (1, TRACE_B, b"\x05" * 8, b"", 0, 0, 0, "", slots(gen_ai__response__id="r-1")),
    ]
    row = rows[0]
    assert [type(v) for v in row[8][:7]] == [str, str, int, float, bool, tuple, bytes]


def wire_semantics_request() -> tuple[bytes, list[Any], list[Any]]:
    """Hand-encoded protobuf semantics a serializer never produces, and what they mean."""
    keys = ["k.str", "k.int", "k.arr", "k.switch", "k.merge", "k.double", "k.bool", "res", "k.key2"]
    attr = lambda key, *values: ld(9, ld(1, key) + b"".join(ld(2, v) for v in values))  # noqa: E731
    array = lambda *elements: ld(5, b"".join(ld(1, e) for e in elements))  # noqa: E731
    span = b"".join(
        [
            ld(5, "first name"),
            fixed64(7, 10),
            attr("k.str", ld(1, "a") + vint(99, 1)),  # unknown field inside an AnyValue
            ld(15, vint(3, 2) + ld(2, "m")),  # status...
            attr("k.int", vint(3, -5)),
            ld(1, b"\xaa" * 16),
            attr("k.arr", array(vint(3, 1)), array(ld(1, "x"))),  # two values: arrays concatenate
            attr("k.switch", array(vint(3, 1)) + ld(1, "s") + array(vint(3, 2))),  # oneof: the last
            attr("k.merge", vint(3, 7), b""),  # an empty AnyValue merged in changes nothing
            ld(15, ld(2, "n")),  # ...merges: the code stays 2
            attr("k.double", double(4, float("-inf"))),
            attr("k.bool", vint(2, 2)),
            ld(9, ld(2, ld(1, "v")) + ld(1, "k.key2")),  # value before key
            ld(9, ld(1, "k.str") + ld(1, "k.int") + ld(2, vint(3, 9))),  # the last key wins
            vint(7, 5),  # a fixed64 field as a varint: unknown, skipped
            ld(5, "name"),  # the last name wins
            vint(8, 1),  # end_time_unix_nano as a varint: skipped too
            group(1000, vint(1, 1) + group(0)),  # an unknown group (field 0 is fine in there)
            ld(2, b"\xbb" * 8),
            ld(15, vint(3, -3)),  # int32 enum, sign-extended on the wire
        ]
    )
    request = b"".join(
        [
            ld(
                1,
                ld(2, ld(2, span) + ld(1, ld(1, "scope")))  # scope after spans
                + ld(1, ld(1, ld(1, "res") + ld(2, ld(1, "r1"))))  # resource after scope_spans
                + ld(1, ld(1, ld(1, "k.int") + ld(2, vint(3, 2**63 - 1)))),  # resource twice: merged
            ),
            fixed32(77, 1),
        ]
    )
    resource = [None, 2**63 - 1, None, None, None, None, None, "r1", None]
    row = [
        (
            0,
            b"\xaa" * 16,
            b"\xbb" * 8,
            b"",
            10,
            0,
            -3,
            "name",
            ["a", 9, (1, "x"), (2,), 7, float("-inf"), True, None, "v"],
        )
    ]
    return request, [keys, len(keys)], [1, [resource], row]


@pytest.mark.parametrize("impl", IMPLS)
def test_wire_semantics_merge_order_and_last_wins(impl):
    data, (keys, n_trigger), expected = wire_semantics_request()
    assert upb_accepts(data)
    assert list(make(impl, keys, n_trigger).scan(data)) == expected


@pytest.mark.parametrize("impl", IMPLS)
def test_many_value_fields_merge_into_one_array(impl):
    values = [ld(2, ld(5, ld(1, vint(3, i)) + ld(1, ld(1, f"s{i}")))) for i in range(20)]
    values.insert(10, ld(2, vint(3, 5)))  # an int in between: only the arrays after it count
    data = span_request(ld(9, ld(1, "gen_ai.operation.name") + b"".join(values)))
    value = make(impl).scan(data)[2][0][8][0]
    assert value == tuple(x for i in range(10, 20) for x in (i, f"s{i}"))


@pytest.mark.parametrize("impl", IMPLS)
def test_only_trigger_keys_make_a_candidate(impl):
    data = hand_built_request()
    count, resources, rows = make(impl, KEYS, 0).scan(data)
    assert (count, rows) == (5, [])
    assert resources[0][KEYS.index("service.name")] == "checkout"
    # only gen_ai.response.id triggers: one span in each of the two resources that have spans
    keys = ["gen_ai.response.id", *[k for k in KEYS if k != "gen_ai.response.id"]]
    rows = make(impl, keys, 1).scan(data)[2]
    assert [(r[0], r[8][0]) for r in rows] == [(0, b"\x00\xff"), (1, "r-1")]


@pytest.mark.parametrize("impl", IMPLS)
def test_empty_request_and_no_keys(impl):
    assert make(impl).scan(b"") == (0, [], [])
    assert make(impl, [], 0).scan(hand_built_request()) == (5, [[], [], []], [])


# --------------------------------------------------------------------------------------------
# Native == pure Python
# --------------------------------------------------------------------------------------------
@needs_native
@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixtures_native_equals_python(path):
    request = load_otlp_json(path)
    data = request.SerializeToString()
    keys = sorted(
        {kv.key for rs in request.resource_spans for kv in rs.resource.attributes}
        | {
            kv.key
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
            for kv in s.attributes
        }
    )
    assert keys, path
    for n_trigger in (0, 1, len(keys) // 2, len(keys)):
        native = make("native", [*keys, "absent.key"], n_trigger).scan(data)
        assert norm(native) == norm(make("python", [*keys, "absent.key"], n_trigger).scan(data))
        assert native[0] == sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    assert len(make("native", keys, len(keys)).scan(data)[2]) > 0


@needs_native
def test_random_requests_native_equals_python():
    keys = ["gen_ai.operation.name", "gen_ai.request.model", "service.name", "x.y"]
    accepted = rows = 0
    for seed in range(400):
        rng = random.Random(seed)
        scanner_keys = [*keys, "", "ключ.ü"] if seed % 2 else keys
        n_trigger = rng.randrange(len(scanner_keys) + 1)
        data = RandomRequest(rng, keys).request()
        native = outcome(make("native", scanner_keys, n_trigger), data)
        assert native == outcome(make("python", scanner_keys, n_trigger), data), seed
        if native != "ValueError":
            accepted += 1
            rows += len(native[1][2][1])
    assert accepted == 400 and rows > 500  # the generator makes valid requests with candidates


# --------------------------------------------------------------------------------------------
# Malformed input: ValueError exactly when upb's ParseFromString fails
# --------------------------------------------------------------------------------------------
def assert_like_upb(data: bytes, keys: list[str] = KEYS, n_trigger: int = N_TRIGGER) -> str:
    native = outcome(make("native", keys, n_trigger), data)
    python = outcome(make("python", keys, n_trigger), data)
    assert native == python, data.hex()
    assert (native != "ValueError") == upb_accepts(data), data.hex()
    return "accepted" if native != "ValueError" else "rejected"


@needs_native
def test_truncation_at_every_offset_matches_upb():
    data = hand_built_request()
    seen = {assert_like_upb(data[:cut]) for cut in range(len(data) + 1)}
    assert seen == {"accepted", "rejected"}


@needs_native
def test_random_byte_changes_match_upb():
    seen = set()
    for seed in range(250):
        rng = random.Random(seed)
        data = RandomRequest(rng, KEYS[:3]).request()
        if not data:
            continue
        for _ in range(8):
            mutated = bytearray(data)
            op = rng.randrange(3)
            if op == 0:
                for _ in range(rng.randrange(1, 4)):
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            elif op == 1:
                i = rng.randrange(len(mutated))
                mutated[i:i] = rng.randbytes(rng.randrange(1, 4))
            else:
                i = rng.randrange(len(mutated))
                del mutated[i : i + rng.randrange(1, 4)]
            seen.add(assert_like_upb(bytes(mutated), KEYS, rng.randrange(len(KEYS) + 1)))
    assert seen == {"accepted", "rejected"}


@needs_native
def test_random_wire_streams_match_upb():
    seen = set()
    for seed in range(3000):
        rng = random.Random(seed)
        data = wire_soup(rng, 0, rng.randrange(1, 4))
        seen.add(assert_like_upb(data, ["", "ok", "ü", "x"], rng.randrange(5)))
    assert seen == {"accepted", "rejected"}


BAD_UTF8 = [
    b"\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x82",
    b"ok\x80",
    b"\xf0\x9f\x99",
]


def span_request(*span_fields: bytes, resource: bytes = b"", scope: bytes = b"") -> bytes:
    scope_spans = (ld(1, scope) if scope else b"") + ld(2, b"".join(span_fields))
    return ld(1, (ld(1, resource) if resource else b"") + ld(2, scope_spans))


def kv_bytes(key: bytes | str, value: bytes) -> bytes:
    return ld(1, key) + ld(2, value)


def utf8_cases(bad: bytes) -> dict[str, bytes]:
    trigger = kv_bytes("gen_ai.operation.name", b"")
    return {
        "value of a slot key": span_request(ld(9, kv_bytes("gen_ai.request.model", ld(1, bad)))),
        "value of another key": span_request(ld(9, trigger), ld(9, kv_bytes("other", ld(1, b"x" * 9 + bad)))),
        "value in a non-candidate span": span_request(ld(9, kv_bytes("other", ld(1, bad)))),
        "key": span_request(ld(9, trigger), ld(9, kv_bytes(b"ke" + bad, ld(1, "v")))),
        "array element": span_request(ld(9, kv_bytes("gen_ai.operation.name", ld(5, ld(1, ld(1, bad)))))),
        "kvlist key": span_request(ld(9, kv_bytes("other", ld(6, ld(1, ld(1, bad)))))),
        "span name": span_request(ld(9, trigger), ld(5, bad)),
        "trace state": span_request(ld(3, bad)),
        "status message": span_request(ld(15, ld(2, bad))),
        "event name": span_request(ld(11, ld(2, bad))),
        "link attribute": span_request(ld(13, ld(4, kv_bytes("a", ld(1, bad))))),
        "scope version": span_request(ld(9, trigger), scope=ld(2, bad)),
        "resource value": span_request(resource=ld(1, kv_bytes("service.name", ld(1, bad)))),
        "entity ref key": span_request(resource=ld(3, ld(3, bad))),
        "schema url": ld(1, ld(3, bad)),
    }


@needs_native
@pytest.mark.parametrize("bad", BAD_UTF8, ids=[b.hex() for b in BAD_UTF8])
def test_invalid_utf8_in_any_string_field_is_rejected(bad):
    for where, data in utf8_cases(bad).items():
        assert not upb_accepts(data), where
        with pytest.raises(ValueError, match="UTF-8"):
            make("native").scan(data)
        with pytest.raises(ValueError):
            make("python").scan(data)
    # ...but not in a bytes field, nor in an unknown field
    for data in (
        span_request(ld(9, kv_bytes("gen_ai.request.model", ld(7, bad))), ld(1, bad)),
        span_request(ld(9, kv_bytes("gen_ai.request.model", ld(1, "ok") + ld(20, bad))), ld(99, bad)),
    ):
        assert assert_like_upb(data) == "accepted"


@needs_native
@pytest.mark.parametrize(
    "data",
    [
        tag(1, 2) + varint(2**31 - 1) + b"\x00",
        tag(1, 2) + varint(2**32 - 1) + b"\x00" * 8,
        tag(1, 2) + b"\xff\xff\xff\xff\xff\x01",  # a 6-byte length
        tag(1, 2) + b"\x80\x80\x80\x80\x80\x00",  # a 6-byte length of 0
        tag(1, 2) + varint(2**64 - 1),
        tag(1, 2) + varint(4) + b"abc",  # one byte short
        ld(1, tag(2, 2) + varint(10) + b"x" * 4) + b"x" * 8,  # longer than its parent
        span_request(ld(9, tag(1, 2) + varint(2**31))),
        span_request(tag(1, 2) + varint(2**40)),
    ],
    ids=lambda d: d.hex()[:24],
)
def test_huge_or_overflowing_lengths_are_rejected(data):
    assert assert_like_upb(data) == "rejected"
    with pytest.raises(ValueError, match="length"):
        make("native").scan(data)


WIRE_CASES = {
    "field number 0": (vint(0, 1), False),
    "wire type 6": (bytes([5 << 3 | 6]), False),
    "wire type 7": (bytes([5 << 3 | 7]), False),
    "end group at top level": (tag(5, EGROUP), False),
    "end group in a span": (span_request(tag(5, EGROUP)), False),
    "unterminated group": (tag(5, SGROUP) + vint(1, 1), False),
    "mismatched end group": (tag(5, SGROUP) + tag(6, EGROUP), False),
    "nested groups": (group(5, group(6, vint(1, 1)) + fixed32(2, 1)), True),
    "field 0 in a group": (group(5, vint(0, 1) + group(0)), True),
    "group of field 0": (group(0), False),
    "10-byte varint": (tag(5, 0) + b"\xff" * 9 + b"\x7f", True),
    "11-byte varint": (tag(5, 0) + b"\xff" * 10 + b"\x01", False),
    "truncated varint": (tag(5, 0) + b"\xff", False),
    "5-byte tag": (b"\xa8\x80\x80\x80\x00\x01", True),
    "6-byte tag": (b"\xa8\x80\x80\x80\x80\x00\x01", False),
    "tag over 32 bits": (b"\xf8\xff\xff\xff\x1f\x01", False),
    "largest field number": (vint(2**29 - 1, 1), True),
    "truncated fixed32": (tag(5, 5) + b"\x00\x00", False),
    "truncated fixed64": (span_request(tag(7, 1) + b"\x00" * 7), False),
    "known field, other wire type": (ld(1, vint(2, 1) + fixed32(1, 1)) + vint(1, 1), True),
    "span with every field": (
        span_request(
            vint(6, 2),
            vint(10, 1),
            vint(12, 1),
            vint(14, 1),
            fixed32(16, 1),
            ld(11, fixed64(1, 1) + ld(2, "e") + ld(3, kv_bytes("a", b"")) + vint(4, 1)),
            ld(13, ld(1, b"t") + ld(2, b"s") + ld(3, "ts") + ld(4, b"") + vint(5, 1) + fixed32(6, 1)),
        ),
        True,
    ),
}


@needs_native
@pytest.mark.parametrize("case", WIRE_CASES, ids=list(WIRE_CASES))
def test_wire_format_edge_cases_match_upb(case):
    data, accepted = WIRE_CASES[case]
    assert assert_like_upb(data) == ("accepted" if accepted else "rejected")


def nested_arrays(levels: int) -> bytes:
    value = vint(3, 1)
    for _ in range(levels):
        value = ld(5, ld(1, value))
    return span_request(ld(9, kv_bytes("gen_ai.operation.name", value)))


def nested_kvlists(levels: int) -> bytes:
    value = b""  # an empty innermost message still counts as a level
    for _ in range(levels):
        value = ld(6, ld(1, kv_bytes("k", value)))
    return span_request(ld(9, kv_bytes("gen_ai.operation.name", value)))


@needs_native
@pytest.mark.parametrize(
    ("build", "limit"),
    [
        (nested_arrays, 47),  # span 3, key value 4, any value 5, then 2 levels per array: 5 + 2n <= 100
        (nested_kvlists, 31),  # 3 levels per kvlist (list, key value, any value): 5 + 3n <= 100
        (lambda n: span_request(b"".join([tag(99, SGROUP)] * n + [tag(99, EGROUP)] * n)), 97),
        (lambda n: b"".join([tag(5, SGROUP)] * n + [tag(5, EGROUP)] * n), 100),
    ],
    ids=["arrays", "kvlists", "groups in a span", "groups at the top"],
)
def test_nesting_depth_limit_matches_upb(build, limit):
    assert assert_like_upb(build(limit)) == "accepted"
    assert assert_like_upb(build(limit + 1)) == "rejected"
    with pytest.raises(ValueError, match="nesting"):
        make("native").scan(build(limit + 1))


# --------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    ("keys", "n_trigger", "error"),
    [
        (["a", "b", "a"], 1, ValueError),
        (["a"], 2, ValueError),
        (["a"], -1, ValueError),
        (["a", 1], 1, TypeError),
        ("ab", 1, TypeError),
        (["\ud800"], 1, UnicodeEncodeError),
    ],
)
def test_constructor_rejects_bad_arguments(impl, keys, n_trigger, error):
    with pytest.raises(error):
        make(impl, keys, n_trigger)


@pytest.mark.parametrize("impl", IMPLS)
def test_keys_and_buffers(impl):
    scanner = make(impl, ("a", "ü"), 1)
    assert (tuple(scanner.keys), scanner.n_trigger) == (("a", "ü"), 1)
    data = hand_built_request()
    expected = make(impl).scan(data)
    for buffer in (bytearray(data), memoryview(data)):
        assert make(impl).scan(buffer) == expected
    with pytest.raises(TypeError):
        make(impl).scan("not bytes")


def test_make_scanner_picks_native_unless_told_not_to():
    wanted = spanscan.NativeScanner is not None and os.environ.get(spanscan.PURE_PYTHON_ENV, "") in ("", "0")
    assert spanscan.NATIVE is wanted
    scanner = spanscan.make_scanner(KEYS, N_TRIGGER)
    assert type(scanner) is (spanscan.NativeScanner if wanted else spanscan.PyScanner)
    assert spanscan.Scanner is type(scanner)
    code = (
        "from otel_llm_processor.model import spanscan as s; "
        "print(s.NATIVE, type(s.make_scanner(['a'], 1)).__name__)"
    )
    env = {**os.environ, spanscan.PURE_PYTHON_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "PyScanner"]


@needs_native
def test_native_scans_leak_no_references():
    data = hand_built_request()
    bad = data[:-3]
    scanner = make("native")
    for _ in range(3):  # warm the string cache
        scanner.scan(data)
    cached = scanner.scan(data)[2][0][8][0]  # "chat", held by the scanner's string cache
    assert cached == "chat"

    def counts() -> tuple[int, ...]:
        return (sys.getrefcount(None), sys.getrefcount(False), sys.getrefcount(cached))

    before = counts()
    for _ in range(200):
        scanner.scan(data)
        with pytest.raises(ValueError):
            scanner.scan(bad)
    assert counts() == before


def _compiler_available() -> bool:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) is not None and (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()


@pytest.mark.skipif(not _compiler_available(), reason="no C compiler or Python headers here")
def test_native_extension_is_built_where_it_can_be():
    assert spanscan.NativeScanner is not None, (
        "a C compiler is available but otel_llm_processor.model._spanscan is not built: reinstall the "
        "processor (make install, or pip install --no-build-isolation -e ./processor) and check the "
        "build output of processor/src/spanscan.c"
    )


@needs_native
def test_native_extension_is_built_from_the_current_source():
    from otel_llm_processor.model import _spanscan

    source = REPO / "processor" / "src" / "spanscan.c"
    if not source.exists():
        pytest.skip("not an editable install of this repository")
    assert Path(_spanscan.__file__).stat().st_mtime >= source.stat().st_mtime, (
        "processor/src/spanscan.c changed after the extension was built: rebuild it with "
        "pip install --no-build-isolation -c constraints.txt -e './processor[test,postgres]'"
    )


@needs_native
def test_double_bits_survive():
    nan = struct.unpack("<d", bytes.fromhex("010000000000f87f"))[0]  # a NaN with a payload
    data = span_request(ld(9, kv_bytes("gen_ai.operation.name", double(4, nan))))
    native = make("native").scan(data)[2][0][8][0]
    python = make("python").scan(data)[2][0][8][0]
    assert struct.pack("<d", native) == struct.pack("<d", python) == bytes.fromhex("010000000000f87f")


@needs_native
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses mprotect through ctypes")
def test_native_never_reads_past_the_buffer():
    """Inputs end right before an inaccessible page: any read past the end would crash the test."""
    import ctypes
    import mmap

    page = mmap.PAGESIZE
    size = 16 * page
    region = mmap.mmap(-1, size + page)
    raw = (ctypes.c_char * (size + page)).from_buffer(region)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert libc.mprotect(ctypes.addressof(raw) + size, page, 0) == 0, ctypes.get_errno()  # PROT_NONE
    view = memoryview(region)
    scanner = make("native", [*KEYS, "", "ok", "ü", "x"], 4)
    inputs = [hand_built_request(), wire_semantics_request()[0]]
    for seed in range(30):
        rng = random.Random(seed)
        inputs += [RandomRequest(rng, KEYS[:3]).request(), wire_soup(rng, 0, 3)]
    scanned = 0
    for data in inputs:
        assert len(data) <= size
        for cut in range(len(data) + 1):
            view[size - cut : size] = data[:cut]
            with contextlib.suppress(ValueError):
                scanner.scan(view[size - cut : size])
            scanned += 1
    assert scanned > 5000
