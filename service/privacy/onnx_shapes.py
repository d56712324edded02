"""Make fixed tensor shapes of an ONNX model free, without the `onnx` package.

CenterFace is exported for a fixed 10x3x32x32 input, yet it is fully convolutional: with
the input's batch, height and width declared free, ONNX Runtime runs it at any size. The
service does not depend on `onnx` (protobuf) for this one edit, so the few fields involved
(ModelProto.graph -> GraphProto.input/output -> ValueInfoProto.type.tensor_type.shape) are
rewritten directly in the protobuf wire format. Graph inputs that merely repeat an initializer
(as old exporters wrote every weight), and initializers no node reads, are dropped on the way:
ONNX Runtime then folds the weights and has nothing to warn about.
"""

from __future__ import annotations

from collections.abc import Iterator

Dim = int | str  # a fixed size, or the name of a free dimension

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_MODEL_GRAPH, _GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 7, 1, 5, 11, 12
_NODE_INPUT, _TENSOR_NAME = 1, 8
_FLOAT = 1  # TensorProto.FLOAT


def with_free_dims(model: bytes, shapes: dict[str, list[Dim]]) -> bytes:
    """The model with the named graph inputs/outputs re-declared as float tensors of `shapes`."""
    seen: set[str] = set()

    def graph(body: bytes) -> bytes:
        fields = list(_fields(body))
        weights = {_name(v, _TENSOR_NAME) for n, _, _, v in fields if n == _GRAPH_INITIALIZER}
        read = {
            i.decode() for n, _, _, v in fields if n == _GRAPH_NODE for f, _, _, i in _fields(v) if f == _NODE_INPUT
        }
        out = bytearray()
        for number, _, raw, value in fields:
            name = _name(value, 1) if number in (_GRAPH_INPUT, _GRAPH_OUTPUT) else None
            if name in shapes:
                seen.add(name)
                out += _len_field(number, _value_info(name, shapes[name]))
            elif number == _GRAPH_INITIALIZER and _name(value, _TENSOR_NAME) not in read:
                continue
            elif not (number == _GRAPH_INPUT and name in weights):
                out += raw
        return bytes(out)

    out = bytearray()
    for number, wire, raw, value in _fields(model):
        out += _len_field(number, graph(value)) if number == _MODEL_GRAPH and wire == _LEN else raw
    if missing := set(shapes) - seen:
        raise ValueError(f"the model has no graph input or output named {sorted(missing)}")
    return bytes(out)


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """(field number, wire type, the field's raw bytes, its payload) for each field of a message."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, pos = _read_varint(buf, pos)
            value = b""
        elif wire == _LEN:
            size, pos = _read_varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire in (_I64, _I32):
            pos += 8 if wire == _I64 else 4
            value = b""
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated protobuf message")
        yield number, wire, buf[start:pos], value


def _name(body: bytes, field: int) -> str | None:
    """The string field `field` of a message (ValueInfoProto.name is 1, TensorProto.name is 8)."""
    return next((v.decode() for n, w, _, v in _fields(body) if n == field and w == _LEN), None)


def _value_info(name: str, dims: list[Dim]) -> bytes:
    shape = b"".join(
        _len_field(1, _len_field(2, d.encode()) if isinstance(d, str) else _varint_field(1, d)) for d in dims
    )
    tensor = _varint_field(1, _FLOAT) + _len_field(2, shape)
    return _len_field(1, name.encode()) + _len_field(2, _len_field(1, tensor))


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated protobuf varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3 | _VARINT) + _varint(value)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload
