#!/usr/bin/env python3
"""Writes the NIfTI fixtures of tests/check_nifti.c with nibabel, an
independent writer, and a manifest of what each file must read as.

    python3 -m venv /tmp/nib && /tmp/nib/bin/pip install nibabel
    /tmp/nib/bin/python tools/make_nifti_fixtures.py tests/data/nifti

nibabel makes each header; numpy lays the data out (i fastest); the script
then reads every file back with nibabel and checks values and affine.
Every file holds raw(x, y, z, c) = (x + 3y + 5z + 7c) % 23 - off (off = 11
for signed types, else 0), stored as that integer for integer types (the
reader applies scl_slope / scl_inter) and as raw * 0.5 + 0.25 for float
types. manifest.tsv gives, per file: datatype code, NIfTI version, shape,
the slope and intercept the reader must apply (1 and 0: none), off, whether
the type is float, qform_code, sform_code, pixdim and the 4x4 affine the
reader must report (the sform when sform_code > 0, else the qform, else
diag(pixdim)), row by row.
"""
import gzip
import math
import os
import sys

import nibabel as nib
import numpy as np

SHAPE = (5, 4, 3)


def values(shape, signed, is_float):
    nx, ny, nz = shape[:3]
    nc = shape[3] if len(shape) > 3 else 1
    a = np.zeros((nx, ny, nz, nc))
    for x in range(nx):
        for y in range(ny):
            for z in range(nz):
                for c in range(nc):
                    a[x, y, z, c] = (x + 3 * y + 5 * z + 7 * c) % 23 - (11 if signed else 0)
    if is_float:
        a = a * 0.5 + 0.25
    return a if len(shape) > 3 else a[..., 0]


def write(path, blob):
    if path.endswith(".gz"):
        with open(path, "wb") as raw_f, gzip.GzipFile(fileobj=raw_f, mode="wb", mtime=0) as f:
            f.write(blob)
    else:
        with open(path, "wb") as f:
            f.write(blob)


def rotation_z(deg, zooms, offset):
    t = math.radians(deg)
    r = np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])
    a = np.eye(4)
    a[:3, :3] = r @ np.diag(zooms)
    a[:3, 3] = offset
    return a


# name, numpy dtype, NIfTI version, byte order, pair?, slope, inter, qform_code, sform_code, 4D?
FILES = [
    ("u8.nii", "u1", 1, "<", False, 2.0, -1.0, 1, 2, False),
    ("i8.nii.gz", "i1", 1, "<", False, 1.0, 0.0, 1, 0, False),
    ("i16_be.nii", "i2", 1, ">", False, 0.5, 10.0, 1, 2, False),
    ("u16.nii.gz", "u2", 2, "<", False, 1.0, 0.0, 1, 1, False),
    ("i32_be.nii.gz", "i4", 2, ">", False, 3.0, 0.5, 0, 2, False),
    ("u32.nii", "u4", 1, "<", False, 1.0, 0.0, 0, 0, False),
    ("f32_be.nii", "f4", 1, ">", False, 1.0, 0.0, 1, 2, False),
    ("f64.nii.gz", "f8", 2, "<", False, 1.0, 0.0, 1, 2, False),
    ("pair_i16.hdr", "i2", 1, "<", True, 0.25, 0.0, 1, 2, False),
    ("pair2_f32_be.hdr", "f4", 2, ">", True, 1.0, 0.0, 1, 0, False),
    ("vol4d.nii.gz", "f4", 1, "<", False, 1.0, 0.0, 1, 2, True),
]

CODES = {"u1": 2, "i1": 256, "i2": 4, "u2": 512, "i4": 8, "u4": 768, "f4": 16, "f8": 64}


def main(out):
    os.makedirs(out, exist_ok=True)
    zooms = (1.5, 2.0, 2.5)
    qaff = rotation_z(30, zooms, (-10.0, 20.0, 5.5))
    saff = np.array([[0.0, -2.0, 0.1, 12.0], [1.5, 0.0, 0.0, -7.0], [0.0, 0.2, 2.5, 3.25], [0, 0, 0, 1]])
    rows = []
    for name, dt, ver, order, pair, slope, inter, qcode, scode, four in FILES:
        is_float = dt[0] == "f"
        signed = dt[0] == "i"
        shape = SHAPE + ((2,) if four else ())
        raw = values(shape, signed, is_float)
        data = raw.astype(np.dtype(order + dt))
        if ver == 1:
            klass = nib.Nifti1Pair if pair else nib.Nifti1Image
            hklass = nib.nifti1.Nifti1PairHeader if pair else nib.Nifti1Header
        else:
            klass = nib.Nifti2Pair if pair else nib.Nifti2Image
            hklass = nib.nifti2.Nifti2PairHeader if pair else nib.Nifti2Header
        img = klass(data, None, header=hklass(endianness=order))
        img.header.set_zooms(zooms + ((1.0,) if four else ()))
        img.set_qform(qaff if qcode else None, code=qcode)
        img.set_sform(saff if scode else None, code=scode)
        h = img.header
        h.set_data_dtype(np.dtype(order + dt))
        h.set_data_shape(shape)
        scaled = not is_float and (slope != 1.0 or inter != 0.0)
        h["scl_slope"] = slope if scaled else np.nan
        h["scl_inter"] = inter if scaled else np.nan
        # The header block from nibabel, the data laid out by numpy (i fastest).
        body = data.tobytes(order="F")
        path = os.path.join(out, name)
        if pair:
            h["vox_offset"] = 0
            write(path, h.binaryblock)
            write(path[:-4] + ".img", body)
        else:
            h["vox_offset"] = len(h.binaryblock) + 4
            write(path, h.binaryblock + b"\0\0\0\0" + body)
        back = nib.load(os.path.join(out, name))
        h = back.header
        s, i = float(back.dataobj.slope), float(back.dataobj.inter)
        want = raw * s + i if not is_float else raw
        assert np.allclose(back.get_fdata(), want, rtol=0, atol=1e-12), name
        if scode:
            aff = h.get_sform()
        elif qcode:
            aff = h.get_qform()
        else:
            aff = np.diag(list(zooms) + [1.0])
        z = h.get_zooms()[:3]
        rows.append([name, CODES[dt], ver, shape[0], shape[1], shape[2], shape[3] if four else 1, repr(s), repr(i),
                     11 if signed else 0, int(is_float), qcode, scode] + [repr(float(v)) for v in z] +
                    [repr(float(v)) for v in np.asarray(aff).ravel()])
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        f.write("# written by tools/make_nifti_fixtures.py with nibabel %s; see its docstring\n" % nib.__version__)
        for r in rows:
            f.write("\t".join(str(v) for v in r) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/nifti")
