#!/usr/bin/python3
"""Generates test/Npy/Inputs: .npy files written by numpy itself, plus
hand-made broken and unusual ones. Needs only numpy:
    /usr/bin/python3 test/Npy/gen_inputs.py
The outputs are committed; the lit tests in this directory read them.
"""
import os
import struct

import numpy as np
from numpy.lib import format as F

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.join(HERE, "Inputs")


def path(name):
    return os.path.join(INPUTS, name)


def write(name, a, version=None):
    with open(path(name), "wb") as f:
        F.write_array(f, a, version=version)


def raw(name, header, data=b"", version=(1, 0), hlen=None):
    """A file with a hand-written header (padded like numpy's) and data."""
    h = header.encode("latin1")
    prefix = 10 if version[0] == 1 else 12
    pad = 64 - (prefix + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    n = len(h) if hlen is None else hlen
    size = struct.pack("<H" if version[0] == 1 else "<I", n)
    with open(path(name), "wb") as f:
        f.write(b"\x93NUMPY" + bytes(version) + size + h + data)


def main():
    os.makedirs(INPUTS, exist_ok=True)
    for f in os.listdir(INPUTS):
        os.remove(path(f))

    # every dtype, version 1.0 as np.save writes it
    write("f4.npy", np.array([[-1.5, 0.0, 2.25], [3e-5, -7.0, 1e10]],
                             dtype="<f4"))
    write("f8.npy", np.array([0.1, -2.0, 1e300, -0.0], dtype="<f8"))
    write("i1.npy", np.array([-128, -1, 0, 127], dtype="|i1"))
    write("u1.npy", np.array([0, 1, 128, 255], dtype="|u1"))
    write("i2.npy", np.array([-32768, -2, 3, 32767], dtype="<i2"))
    write("i4.npy", np.array([[-2**31, 5], [-6, 2**31 - 1]], dtype="<i4"))
    write("i8.npy", np.array([-2**63, -1, 2**53 + 1, 2**63 - 1], dtype="<i8"))
    write("b1.npy", np.array([True, False, True], dtype="|b1"))
    # shapes: scalar, empty, rank 3, a header numpy pads by a full 64 bytes
    write("scalar.npy", np.array(3.5, dtype="<f4"))
    write("empty.npy", np.zeros((0, 3), dtype="<f4"))
    a = np.arange(24, dtype="<i2").reshape(2, 3, 4)
    write("rank3.npy", a)
    write("pad64.npy", np.zeros((0, 1, 1) + (100,) * 7, dtype="|i1"))

    # versions 2.0 and 3.0 and Fortran order, with their C-order v1.0 twins
    v = np.array([[1.0, -2.0, 3.5], [4.25, 5.0, -6.125]], dtype="<f4")
    write("v1.npy", v, version=(1, 0))
    write("v2.npy", v, version=(2, 0))
    write("v3.npy", v, version=(3, 0))
    write("fortran.npy", np.asfortranarray(a))
    assert open(path("fortran.npy"), "rb").read().find(b"True") > 0

    # headers numpy would read but does not write this way
    data = np.array([1, 2, 3], dtype="<i4").tobytes()
    raw("hdr_reordered.npy",
        "{ 'shape' : ( 3 , ) ,'fortran_order':False,\"descr\":'<i4' }", data)
    raw("hdr_no_trailing_comma.npy",
        "{'descr': '<i4', 'fortran_order': False, 'shape': (3,)}", data)
    raw("hdr_py2_long.npy",
        "{'descr': '<i4', 'fortran_order': False, 'shape': (3L,), }", data)
    raw("hdr_i1_spelling.npy",
        "{'descr': '<i1', 'fortran_order': False, 'shape': (2,), }",
        b"\x80\x7f")

    # broken files
    f4 = np.arange(10, dtype="<f4").tobytes()
    hdr10 = "{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }"
    raw("bad_truncated.npy", hdr10, f4[:12])
    raw("bad_trailing.npy", hdr10, f4 + b"\0\0")
    raw("bad_shape_lie.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", f4)
    write("bad_big_endian.npy", np.arange(3, dtype=">f4"))
    with open(path("bad_magic.npy"), "wb") as f:
        f.write(b"PK\x03\x04 this is a zip file, not an array\n")
    raw("bad_overflow.npy",
        "{'descr': '<f8', 'fortran_order': False, "
        "'shape': (1099511627776, 1099511627776, 1099511627776), }")
    raw("bad_overflow_bytes.npy",
        "{'descr': '<f8', 'fortran_order': False, "
        "'shape': (4611686018427387904,), }")
    raw("bad_huge_dim.npy",
        "{'descr': '<f4', 'fortran_order': False, "
        "'shape': (99999999999999999999,), }")
    raw("bad_version.npy", hdr10, f4, version=(4, 0))
    with open(path("bad_short.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00\x76")
    raw("bad_header_len.npy", hdr10, f4[:4], hlen=60000)
    raw("bad_dtype.npy",
        "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8)
    raw("bad_structured.npy",
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
        b"\0" * 4)
    raw("bad_missing_key.npy", "{'descr': '<f4', 'shape': (1,), }", b"\0" * 4)
    raw("bad_unknown_key.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }",
        b"\0" * 4)
    raw("bad_duplicate_key.npy",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
        "'shape': (1,), }", b"\0" * 4)
    raw("bad_syntax.npy",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (1,), }", b"\0" * 4)
    raw("bad_negative_dim.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")

    # files for dyad-npy cmp
    write("cmp_a.npy", np.array([1.0, 2.0, np.nan, -3.0], dtype="<f4"))
    write("cmp_a_close.npy",
          np.array([1.000001, 2.0, np.nan, -3.00002], dtype="<f4"))
    write("cmp_a_f8.npy", np.array([1.0, 2.0, np.nan, -3.0], dtype="<f8"))
    write("cmp_b.npy", np.array([1.0, 2.5, np.nan, 3.0], dtype="<f4"))
    write("cmp_i.npy", np.array([1, 2, 3], dtype="<i4"))
    write("cmp_i_off.npy", np.array([1, 2, 4], dtype="<i8"))


if __name__ == "__main__":
    main()
