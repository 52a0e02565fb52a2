"""A small pure-Python msgpack codec for the lean CLI path (`neuro ps`).

Importing msgspec costs about 24 ms here, more than everything else `neuro ps` does; the lean
path sends two small maps and reads two back, which plain Python does in microseconds. It
covers the types the control protocol's replies use (nil, bool, int, float, str, bin, array,
map) and raises `ValueError` on anything else (ext types, truncated input), so the caller can
hand over to the full client.
"""

from __future__ import annotations

import struct

__all__ = ["encode", "decode"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_UNPACK = {0xca: struct.Struct(">f"), 0xcb: struct.Struct(">d"),
           0xcc: struct.Struct(">B"), 0xcd: struct.Struct(">H"), 0xce: struct.Struct(">I"), 0xcf: struct.Struct(">Q"),
           0xd0: struct.Struct(">b"), 0xd1: struct.Struct(">h"), 0xd2: struct.Struct(">i"), 0xd3: struct.Struct(">q")}
_LENGTH = {0xd9: 1, 0xda: 2, 0xdb: 4, 0xc4: 1, 0xc5: 2, 0xc6: 4, 0xdc: 2, 0xdd: 4, 0xde: 2, 0xdf: 4}


def encode(value: Any) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Any, out: list[bytes]) -> None:
    if value is None:
        out.append(b"\xc0")
    elif value is True or value is False:
        out.append(b"\xc3" if value else b"\xc2")
    elif isinstance(value, int):
        if 0 <= value < 0x80:
            out.append(bytes((value,)))
        elif -32 <= value < 0:
            out.append(bytes((value & 0xff,)))
        elif 0 <= value < 1 << 64:
            out.append(b"\xcf" + value.to_bytes(8, "big"))
        elif -(1 << 63) <= value < 0:
            out.append(b"\xd3" + value.to_bytes(8, "big", signed=True))
        else:
            raise ValueError(f"integer {value} does not fit msgpack's 64 bits")
    elif isinstance(value, float):
        out.append(b"\xcb" + struct.pack(">d", value))
    elif isinstance(value, str):
        data = value.encode()
        out.append(_header(len(data), 0xa0, 32, 0xd9) + data)
    elif isinstance(value, (bytes, bytearray)):
        out.append(_header(len(value), None, 0, 0xc4) + bytes(value))
    elif isinstance(value, (list, tuple)):
        out.append(_header(len(value), 0x90, 16, 0xdc))
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        out.append(_header(len(value), 0x80, 16, 0xde))
        for key, item in value.items():
            _encode(key, out)
            _encode(item, out)
    else:
        raise ValueError(f"cannot encode a {type(value).__name__} as msgpack here")


def _header(n: int, fix: int | None, fix_limit: int, first: int) -> bytes:
    """The header of a str (first=0xd9), bin (0xc4), array (0xdc) or map (0xde) of size n."""
    if fix is not None and n < fix_limit:
        return bytes((fix | n,))
    if first in (0xd9, 0xc4) and n < 1 << 8:
        return bytes((first, n))
    if n < 1 << 16:
        return bytes((first + (1 if first in (0xd9, 0xc4) else 0),)) + n.to_bytes(2, "big")
    if n < 1 << 32:
        return bytes((first + (2 if first in (0xd9, 0xc4) else 1),)) + n.to_bytes(4, "big")
    raise ValueError("too large for msgpack")


def decode(data: bytes) -> Any:
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes left over after the msgpack value")
    return value


def _decode(data: bytes, i: int) -> tuple[Any, int]:
    try:
        b = data[i]
    except IndexError:
        raise ValueError("truncated msgpack") from None
    i += 1
    if b < 0x80:
        return b, i
    if b >= 0xe0:
        return b - 0x100, i
    if 0xa0 <= b < 0xc0:
        return _str(data, i, b & 0x1f)
    if 0x90 <= b < 0xa0:
        return _array(data, i, b & 0x0f)
    if 0x80 <= b < 0x90:
        return _map(data, i, b & 0x0f)
    if b == 0xc0:
        return None, i
    if b in (0xc2, 0xc3):
        return b == 0xc3, i
    number = _UNPACK.get(b)
    if number is not None:
        if i + number.size > len(data):
            raise ValueError("truncated msgpack")
        return number.unpack_from(data, i)[0], i + number.size
    width = _LENGTH.get(b)
    if width is None:
        raise ValueError(f"msgpack type 0x{b:02x} is not handled here")
    if i + width > len(data):
        raise ValueError("truncated msgpack")
    n = int.from_bytes(data[i:i + width], "big")
    i += width
    if b in (0xd9, 0xda, 0xdb):
        return _str(data, i, n)
    if b in (0xc4, 0xc5, 0xc6):
        if i + n > len(data):
            raise ValueError("truncated msgpack")
        return bytes(data[i:i + n]), i + n
    if b in (0xdc, 0xdd):
        return _array(data, i, n)
    return _map(data, i, n)


def _str(data: bytes, i: int, n: int) -> tuple[str, int]:
    if i + n > len(data):
        raise ValueError("truncated msgpack")
    return bytes(data[i:i + n]).decode(), i + n


def _array(data: bytes, i: int, n: int) -> tuple[list[Any], int]:
    out = []
    for _ in range(n):
        item, i = _decode(data, i)
        out.append(item)
    return out, i


def _map(data: bytes, i: int, n: int) -> tuple[dict[Any, Any], int]:
    out = {}
    for _ in range(n):
        key, i = _decode(data, i)
        value, i = _decode(data, i)
        try:
            out[key] = value
        except TypeError:
            raise ValueError("a msgpack map key that Python cannot hash") from None
    return out, i
