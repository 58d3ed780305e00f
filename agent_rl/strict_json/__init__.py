"""The strict JSON check: ECMA-404 / RFC 8259 exactly, with a named error kind and position.

``parse_json(data)`` gives a :class:`JsonVerdict` for any ``str`` or ``bytes`` and never raises
on content; ``loads_strict(text)`` is the scorer's fast path (the value, or
:class:`StrictJsonError`, a ``ValueError``, for anything not strict or with a repeated key).
:data:`ERROR_KINDS` lists every error kind with its meaning. This package parses and
diagnoses one JSON text; it does not find JSON inside prose or a tool-call envelope
(:mod:`agent_rl.formats` does) and does not repair anything.

What "strict" means here, decided once:

* Accepted: exactly RFC 8259 — every ``y_*`` file of JSONTestSuite; rejected: every ``n_*``.
  Whitespace is only space, tab, LF, CR. No NaN/Infinity (``nan_or_infinity``), no comments,
  no trailing commas, no single quotes.
* Duplicate keys are legal syntax (``y_object_duplicated_key``): ``ok`` stays true, the value
  keeps the last one (as ``json.loads``), and ``duplicate_keys`` names them; ``loads_strict``
  rejects them, because a tool call with two ``"path"`` keys is ambiguous.
* Byte order mark: rejected (``byte_order_mark``) for ``str`` and ``bytes``. RFC 8259 §8.1
  lets a parser ignore one, but no model should emit it and ``json.loads(str)`` refuses it too.
* ``bytes`` must be UTF-8 (§8.1): invalid, overlong or surrogate sequences, Latin-1 and
  UTF-16/32 text are ``invalid_utf8`` with the byte offset. Offsets are characters for ``str``
  input and bytes for ``bytes`` input.
* Unicode escapes: a ``\\uD800``-``\\uDFFF`` escape that is not half of a high-low pair is
  ``lone_surrogate``, and so is a raw surrogate code point in ``str`` input (it cannot be
  encoded as UTF-8). ``\\u0000`` is fine (a string may hold NUL); a raw NUL is a control char.
* Numbers: integers are exact Python ``int`` of any size up to Python's 4300-digit conversion
  limit (beyond: ``number_out_of_range``); other numbers are ``float``; a float that overflows
  to infinity (``1e400``) is ``number_out_of_range`` (infinity is not JSON), one that
  underflows (``1e-400``) is ``0.0``. ``-0`` is the int 0, ``-0.0`` the float -0.0.
* Nesting deeper than ``max_depth`` (default 512 arrays/objects) is ``too_deep``.

The JSONTestSuite ``i_*`` files (implementation-defined) follow those rules: huge exponents
and ``-1e400``-style overflows are rejected, underflow and huge integers are accepted; all
lone-surrogate escapes are rejected; every non-UTF-8 file (Latin-1, overlong, truncated,
UTF-16 with or without BOM, encoded surrogates, code points past U+10FFFF) is rejected;
500 nested arrays are accepted (500 <= 512); the UTF-8 BOM file is rejected. The
``test_transform`` files: integers keep every digit (``-9223372036854775809``,
``10000000000000000999``); ``1.0``, ``1E6`` are floats, ``1.000000000000000005`` is ``1.0``,
``1E-999`` is ``0.0``; NFC and NFD keys are different keys (no normalisation); repeated keys
are ok with ``duplicate_keys=("a",)`` and the last value; escaped lone surrogates are
``lone_surrogate``, raw encoded ones ``invalid_utf8``; ``"A\\u0000B"`` is a 3-character string.

Bounds on hostile input (``tests/test_strict_json_fuzz.py`` checks each): time and memory are
linear in the input, and nothing recurses. 100,000 nested brackets return ``too_deep`` at
bracket 513 in ~10 ms (and parse, with ``max_depth=100_000``, in well under a second);
a 10 MB string, 10 MB of digits, whitespace or invalid UTF-8 take a fraction of a second; a
million object members about half a second when valid, a few seconds when the scanner must
name an error; NUL bytes and invalid UTF-8 get a verdict. Scratch memory stays under ~16
bytes per input byte (orjson's buffers; the scanner needs ~2), plus the parsed value.
"""

from __future__ import annotations

from agent_rl.strict_json._api import StrictJsonError, loads_strict, parse_json
from agent_rl.strict_json._verdict import ERROR_KINDS, JsonVerdict

__all__ = ["ERROR_KINDS", "JsonVerdict", "StrictJsonError", "loads_strict", "parse_json"]
