"""Tests of nnfs.data (Chapter 3: IDX files, finding Fashion-MNIST, splits and minibatches).

Files are written into pytest's tmp_path; nothing is ever downloaded (every
load here either passes download=False or uses load_mnist, which never
downloads).  Tests of the real Fashion-MNIST files skip when they are absent.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnfs.data import (
    FASHION_MNIST_CLASSES,
    IDX_DTYPES,
    load_fashion_mnist,
    load_mnist,
    minibatches,
    prepare_images,
    read_idx,
    train_val_split,
    write_idx,
)

from helpers import raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch3

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# The IDX type codes, from the format's definition (LeCun's MNIST page), typed in here independently.
TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


raises_here = raised_by_module("nnfs.data")


def random_array(dtype, shape, rng) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    a = (rng.standard_normal(shape) * 1e3).astype(dtype)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, np.finfo(dtype).tiny, np.finfo(dtype).max], dtype=dtype)
    flat = a.reshape(-1)
    flat[: min(flat.size, special.size)] = special[: flat.size]
    return a


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``, built by hand with struct: 0, 0, type code, ndim, big-endian u32 dims, big-endian data."""
    code = TYPE_CODES[array.dtype.type]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


# ---------------------------------------------------------------------------
# read_idx / write_idx round trips
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"], ids=["raw", "gz"])
@pytest.mark.parametrize("dtype", list(TYPE_CODES), ids=lambda d: np.dtype(d).name)
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_idx_round_trip(tmp_path_factory, dtype, suffix, shape, seed):
    array = random_array(dtype, tuple(shape), np.random.default_rng(seed))
    path = tmp_path_factory.mktemp("idx") / f"array.idx{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.shape == array.shape
    assert back.dtype == np.dtype(dtype)  # native byte order, same kind and size
    assert back.dtype.isnative
    assert back.flags.writeable and back.flags.c_contiguous
    np.testing.assert_array_equal(back, array)  # NaNs compare equal here; bits checked below
    assert back.tobytes() == array.tobytes()
    # The bytes on disk are the IDX format, built independently.
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    assert raw == idx_bytes(array)


@pytest.mark.parametrize("dtype", list(TYPE_CODES), ids=lambda d: np.dtype(d).name)
def test_read_idx_of_hand_built_file(tmp_path, dtype):
    array = random_array(dtype, (3, 2, 4), np.random.default_rng(0))
    path = tmp_path / "hand.idx"
    path.write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(path), array)
    (tmp_path / "hand.idx.gz").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "hand.idx.gz"), array)
    np.testing.assert_array_equal(read_idx(str(path)), array)  # a str path works too


def test_write_idx_accepts_big_endian_and_non_contiguous_input(tmp_path):
    a = np.arange(24, dtype=np.int32).reshape(4, 6)
    write_idx(tmp_path / "be.idx", a.astype(">i4"))
    np.testing.assert_array_equal(read_idx(tmp_path / "be.idx"), a)
    write_idx(tmp_path / "t.idx", a.T)
    np.testing.assert_array_equal(read_idx(tmp_path / "t.idx"), a.T)


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.uint32, np.uint64, np.float16, np.bool_,
                                   np.complex64, np.dtype("U3"), object])
def test_write_idx_rejects_unsupported_dtype(tmp_path, dtype):
    array = np.zeros((2, 3), dtype=dtype)
    path = tmp_path / "bad.idx"
    with pytest.raises(TypeError, match=r"IDX cannot store dtype") as info:
        write_idx(path, array)
    assert raises_here(info)
    assert str(np.dtype(dtype)) in str(info.value)
    assert "uint8" in str(info.value)  # it lists what it can store
    assert not path.exists()  # nothing half-written


def test_write_idx_gz_is_deterministic(tmp_path):
    array = np.arange(100, dtype=np.int16).reshape(10, 10)
    write_idx(tmp_path / "a.idx.gz", array)
    write_idx(tmp_path / "b.idx.gz", array)
    first, second = (tmp_path / "a.idx.gz").read_bytes(), (tmp_path / "b.idx.gz").read_bytes()
    assert first == second  # no file name ...
    assert first[4:8] == b"\x00\x00\x00\x00"  # ... and no timestamp (MTIME) in the gzip header
    assert gzip.decompress(first) == idx_bytes(array)


def test_idx_dtypes_table():
    assert {code: dt.newbyteorder("=") for code, dt in IDX_DTYPES.items()} == {
        code: np.dtype(t) for t, code in TYPE_CODES.items()}


# ---------------------------------------------------------------------------
# read_idx refuses broken files, with a helpful ValueError
# ---------------------------------------------------------------------------


@pytest.fixture
def good_idx() -> bytes:
    return idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))


def write(path: Path, content: bytes, gz: bool) -> Path:
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    return path


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("magic", [b"\x01\x00", b"\x00\x01", b"\xff\xff"])
def test_read_idx_rejects_wrong_magic(tmp_path, good_idx, gz, magic):
    path = write(tmp_path / ("m.idx.gz" if gz else "m.idx"), magic + good_idx[2:], gz)
    with pytest.raises(ValueError, match=r"not an IDX file.*magic") as info:
        read_idx(path)
    assert raises_here(info)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("code", [0x00, 0x07, 0x0A, 0x0F, 0xFF])
def test_read_idx_rejects_unknown_type_code(tmp_path, good_idx, code):
    path = write(tmp_path / "t.idx", good_idx[:2] + bytes([code]) + good_idx[3:], False)
    with pytest.raises(ValueError, match=rf"unknown IDX type code 0x{code:02X}") as info:
        read_idx(path)
    assert raises_here(info)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("cut", [1, 7, 59])
def test_read_idx_rejects_truncated_content(tmp_path, good_idx, gz, cut):
    """Content cut short (for .gz: a complete gzip stream of truncated content): the sizes disagree."""
    path = write(tmp_path / ("c.idx.gz" if gz else "c.idx"), good_idx[:-cut], gz)
    with pytest.raises(ValueError, match=r"header says shape \(3, 4, 5\) \(76 bytes\).*truncated") as info:
        read_idx(path)
    assert raises_here(info)
    assert f"{len(good_idx) - cut} bytes" in str(info.value)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_read_idx_rejects_extra_bytes(tmp_path, good_idx, gz):
    path = write(tmp_path / ("x.idx.gz" if gz else "x.idx"), good_idx + b"\x00", gz)
    with pytest.raises(ValueError, match=r"header says shape \(3, 4, 5\)") as info:
        read_idx(path)
    assert raises_here(info)


@pytest.mark.parametrize("content", [b"", b"\x00", b"\x00\x00\x08", b"\x00\x00\x08\x03\x00\x00\x00\x03\x00"],
                         ids=["empty", "1-byte", "3-bytes", "half-header"])
def test_read_idx_rejects_truncated_header(tmp_path, content):
    path = write(tmp_path / "h.idx", content, False)
    with pytest.raises(ValueError, match=r"IDX|truncated") as info:
        read_idx(path)
    assert raises_here(info)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("cut", [1, 4, 8, 20])
def test_read_idx_rejects_truncated_gzip_stream(tmp_path, good_idx, cut):
    """Bytes cut off the end of the *compressed* file: the gzip stream itself is incomplete."""
    compressed = gzip.compress(good_idx, mtime=0)
    path = tmp_path / "s.idx.gz"
    path.write_bytes(compressed[:-cut])
    with pytest.raises(ValueError, match=r"cannot decompress.*truncated or corrupt") as info:
        read_idx(path)
    assert raises_here(info)
    assert str(path) in str(info.value)


def test_read_idx_rejects_bad_gzip_crc(tmp_path, good_idx):
    compressed = bytearray(gzip.compress(good_idx, mtime=0))
    compressed[-5] ^= 0xFF  # the CRC-32 in the trailer
    path = tmp_path / "crc.idx.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(ValueError, match=r"cannot decompress.*corrupt") as info:
        read_idx(path)
    assert raises_here(info)


def test_read_idx_rejects_corrupt_deflate_stream(tmp_path, good_idx):
    """A damaged deflate block (not truncated): the docstring promises ValueError for a corrupt gzip stream.

    gzip.compress(..., mtime=0) writes a 10-byte header; byte 10 starts the first
    deflate block, whose bits 1-2 give its type.  Type 3 is reserved, so zlib
    stops with "invalid block type" (zlib.error, which is neither OSError nor EOFError).
    """
    compressed = bytearray(gzip.compress(good_idx, mtime=0))
    compressed[10] |= 0b110
    path = tmp_path / "deflate.idx.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(ValueError, match=r"cannot decompress|corrupt") as info:
        read_idx(path)
    assert raises_here(info)
    assert str(path) in str(info.value)


def test_read_idx_rejects_plain_file_named_gz(tmp_path, good_idx):
    path = write(tmp_path / "plain.idx.gz", good_idx, False)
    with pytest.raises(ValueError, match=r"cannot decompress") as info:
        read_idx(path)
    assert raises_here(info)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_read_idx_checks_sha256_of_uncompressed_content(tmp_path, good_idx, gz):
    path = write(tmp_path / ("h.idx.gz" if gz else "h.idx"), good_idx, gz)
    right = hashlib.sha256(good_idx).hexdigest()
    np.testing.assert_array_equal(read_idx(path, sha256=right), np.arange(60).reshape(3, 4, 5))
    wrong = hashlib.sha256(good_idx + b"x").hexdigest()
    with pytest.raises(ValueError, match=rf"SHA-256 of the content is {right}, expected {wrong}.*corrupt") as info:
        read_idx(path, sha256=wrong)
    assert raises_here(info)
    assert str(path) in str(info.value)
    # A single changed byte of content with a valid structure is caught by the hash alone.
    flipped = bytearray(good_idx)
    flipped[-1] ^= 1
    write(path, bytes(flipped), gz)
    read_idx(path)  # structurally fine
    with pytest.raises(ValueError, match="SHA-256"):
        read_idx(path, sha256=right)


def test_read_idx_of_a_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory") as info:
        read_idx(tmp_path)
    assert raises_here(info)
    assert str(tmp_path) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "train-images-idx3-ubyte.gz"
    with pytest.raises(FileNotFoundError) as info:
        read_idx(path)
    assert raises_here(info)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------
# Finding the data sets
# ---------------------------------------------------------------------------


def write_fake_dataset(directory: Path, seed: int = 0, n_train: int = 20, n_test: int = 10):
    """Four small IDX files in the Fashion-MNIST layout; returns the arrays written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        FILES[0]: rng.integers(0, 256, (n_train, 28, 28)).astype(np.uint8),
        FILES[1]: rng.integers(0, 10, n_train).astype(np.uint8),
        FILES[2]: rng.integers(0, 256, (n_test, 28, 28)).astype(np.uint8),
        FILES[3]: rng.integers(0, 10, n_test).astype(np.uint8),
    }
    for name, array in arrays.items():
        write_idx(directory / name, array)
    return arrays


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """NNFS_DATA and HOME pointing at empty temporary directories."""
    data, home = tmp_path / "data", tmp_path / "home"
    data.mkdir()
    home.mkdir()
    monkeypatch.setenv("NNFS_DATA", str(data))
    monkeypatch.setenv("HOME", str(home))
    assert Path.home() == home
    return data, home


def test_load_fashion_mnist_verifies_content_by_checksum(isolated_env):
    data, _ = isolated_env
    write_fake_dataset(data / "fashion-mnist")  # structurally valid, but not the real files
    with pytest.raises(ValueError, match=r"SHA-256.*expected") as info:
        load_fashion_mnist(download=False)
    assert raises_here(info)
    assert str(data / "fashion-mnist") in str(info.value)


def test_load_mnist_not_found_explains_where_it_looked(isolated_env):
    data, home = isolated_env
    with pytest.raises(FileNotFoundError) as info:
        load_mnist()
    assert raises_here(info)
    message = str(info.value)
    assert str(data / "mnist") in message
    assert str(home / ".cache" / "nnfs" / "mnist") in message
    for name in FILES:
        assert name in message
    assert "NNFS_DATA" in message and "~/.cache/nnfs/mnist" in message  # the ways to provide the data
    assert "Ways to provide the data" in message


def test_load_mnist_not_found_without_nnfs_data(isolated_env, monkeypatch):
    _, home = isolated_env
    monkeypatch.delenv("NNFS_DATA")
    with pytest.raises(FileNotFoundError, match="NNFS_DATA") as info:
        load_mnist()
    assert str(home / ".cache" / "nnfs" / "mnist") in str(info.value)


def test_load_mnist_incomplete_directory_is_not_enough(isolated_env):
    data, _ = isolated_env
    write_fake_dataset(data / "mnist")
    (data / "mnist" / FILES[3]).unlink()
    with pytest.raises(FileNotFoundError, match="mnist not found"):
        load_mnist()


def test_load_mnist_reads_fake_files_from_nnfs_data(isolated_env):
    data, _ = isolated_env
    arrays = write_fake_dataset(data / "mnist", n_train=20, n_test=10)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    for got, name in zip((x_train, y_train, x_test, y_test), FILES):
        np.testing.assert_array_equal(got, arrays[name])
        assert got.dtype == np.uint8
    assert x_train.shape == (20, 28, 28) and x_test.shape == (10, 28, 28)
    assert y_train.shape == (20,) and y_test.shape == (10,)


def test_load_mnist_prefers_nnfs_data_then_home_cache(isolated_env, monkeypatch):
    data, home = isolated_env
    cached = write_fake_dataset(home / ".cache" / "nnfs" / "mnist", seed=1)
    from_env = write_fake_dataset(data / "mnist", seed=2)
    np.testing.assert_array_equal(load_mnist()[0][0], from_env[FILES[0]])
    monkeypatch.delenv("NNFS_DATA")
    np.testing.assert_array_equal(load_mnist()[0][0], cached[FILES[0]])


def test_load_mnist_reads_uncompressed_files(isolated_env):
    data, _ = isolated_env
    arrays = write_fake_dataset(data / "mnist")
    for name in FILES:  # the same files, gunzipped (as some mirrors ship them)
        gz = data / "mnist" / name
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    (x_train, y_train), (x_test, y_test) = load_mnist()
    for got, name in zip((x_train, y_train, x_test, y_test), FILES):
        np.testing.assert_array_equal(got, arrays[name])


def test_load_mnist_checks_labels_and_sizes(isolated_env):
    data, _ = isolated_env
    write_fake_dataset(data / "mnist")
    write_idx(data / "mnist" / FILES[1], np.full(20, 10, dtype=np.uint8))  # label 10 of 0..9
    with pytest.raises(ValueError, match=r"train labels must be in 0\.\.9; found 10") as info:
        load_mnist()
    assert raises_here(info)
    write_idx(data / "mnist" / FILES[1], np.zeros(19, dtype=np.uint8))  # 20 images, 19 labels
    with pytest.raises(ValueError, match=r"train images \(20, 28, 28\) and labels \(19,\)") as info:
        load_mnist()
    assert raises_here(info)


def test_load_mnist_refuses_a_corrupt_file(isolated_env):
    data, _ = isolated_env
    write_fake_dataset(data / "mnist")
    path = data / "mnist" / FILES[0]
    path.write_bytes(path.read_bytes()[:-10])  # truncated gzip stream
    with pytest.raises(ValueError, match=r"truncated or corrupt") as info:
        load_mnist()
    assert raises_here(info)


# ---------------------------------------------------------------------------
# The real Fashion-MNIST (skipped when it is not installed)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fashion():
    try:
        return load_fashion_mnist(download=False)
    except FileNotFoundError as exc:
        pytest.skip(f"Fashion-MNIST is not on this machine (install dataset-fashion-mnist or set NNFS_DATA): "
                    f"{str(exc).splitlines()[0]}")


def test_real_fashion_mnist_shapes_and_labels(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), 6000)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), 1000)
    assert x_train.min() == 0 and x_train.max() == 255
    assert len(FASHION_MNIST_CLASSES) == 10


# ---------------------------------------------------------------------------
# prepare_images, train_val_split, minibatches
# ---------------------------------------------------------------------------


def test_prepare_images_scales_to_unit_interval_in_float32():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (7, 28, 28)).astype(np.uint8)
    x[0, 0, 0], x[0, 0, 1] = 0, 255
    before = x.copy()
    out = prepare_images(x)
    assert out.shape == (7, 784) and out.dtype == np.float32 and out.flags.c_contiguous
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out[0, 0] == 0.0 and out[0, 1] == 1.0
    # Division in float32 is correctly rounded, and so is float64 division then rounding to float32.
    np.testing.assert_array_equal(out, (x.reshape(7, -1).astype(np.float64) / 255).astype(np.float32))
    np.testing.assert_array_equal(x, before)
    out64 = prepare_images(x, dtype=np.float64)
    assert out64.dtype == np.float64
    np.testing.assert_array_equal(out64, x.reshape(7, -1) / 255.0)


def test_train_val_split_is_a_random_partition():
    n = 50
    x = np.arange(n * 3).reshape(n, 3)  # row i is 3i, 3i+1, 3i+2
    y = np.arange(n)
    (x_tr, y_tr), (x_val, y_val) = train_val_split(x, y, 12, np.random.default_rng(0))
    assert len(x_val) == len(y_val) == 12 and len(x_tr) == len(y_tr) == 38
    assert set(y_tr).isdisjoint(y_val) and set(y_tr) | set(y_val) == set(range(n))
    np.testing.assert_array_equal(x_tr[:, 0], 3 * y_tr)  # rows stay with their labels
    np.testing.assert_array_equal(x_val[:, 0], 3 * y_val)
    assert not np.array_equal(np.sort(y_val), np.arange(12))  # random, not the first 12
    (_, y_tr2), (_, y_val2) = train_val_split(x, y, 12, np.random.default_rng(0))
    np.testing.assert_array_equal(y_val, y_val2)
    np.testing.assert_array_equal(y_tr, y_tr2)
    (_, _), (_, y_val3) = train_val_split(x, y, 12, np.random.default_rng(1))
    assert not np.array_equal(y_val, y_val3)


@pytest.mark.parametrize("n_val", [0, -1, 10, 11])
def test_train_val_split_rejects_bad_n_val(n_val):
    with pytest.raises(ValueError, match=rf"n_val must be between 1 and 9; got {n_val}") as info:
        train_val_split(np.zeros((10, 2)), np.zeros(10), n_val, np.random.default_rng(0))
    assert raises_here(info)


def test_train_val_split_rejects_length_mismatch():
    with pytest.raises(ValueError, match=r"x has 10 examples but y has 9") as info:
        train_val_split(np.zeros((10, 2)), np.zeros(9), 3, np.random.default_rng(0))
    assert raises_here(info)


@given(n=st.integers(0, 60), batch_size=st.integers(1, 25), seed=st.integers(0, 2**32 - 1),
       shuffle=st.booleans())
def test_minibatches_cover_every_example_once(n, batch_size, seed, shuffle):
    x = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    rng = np.random.default_rng(seed) if shuffle else None
    batches = list(minibatches(x, y, batch_size, rng))
    assert len(batches) == -(-n // batch_size)
    sizes = [len(yb) for _, yb in batches]
    assert all(s == batch_size for s in sizes[:-1])
    if batches:
        assert sizes[-1] == n - batch_size * (len(batches) - 1)
        assert 1 <= sizes[-1] <= batch_size
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], dtype=int)
    np.testing.assert_array_equal(np.sort(seen), y)  # every example exactly once
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # pairs kept together
    if not shuffle:
        np.testing.assert_array_equal(seen, y)  # in order without an rng
    else:
        again = np.concatenate([yb for _, yb in minibatches(x, y, batch_size, np.random.default_rng(seed))]) \
            if n else seen
        np.testing.assert_array_equal(seen, again)  # deterministic per seed


def test_minibatches_shuffle_differs_between_seeds_and_epochs():
    x, y = np.zeros((100, 1)), np.arange(100)
    rng = np.random.default_rng(0)
    epoch1 = np.concatenate([yb for _, yb in minibatches(x, y, 32, rng)])
    epoch2 = np.concatenate([yb for _, yb in minibatches(x, y, 32, rng)])
    other = np.concatenate([yb for _, yb in minibatches(x, y, 32, np.random.default_rng(1))])
    assert not np.array_equal(epoch1, y)  # shuffled
    assert not np.array_equal(epoch1, epoch2)  # a new order each epoch from the same generator
    assert not np.array_equal(epoch1, other)
    sizes = [len(yb) for _, yb in minibatches(x, y, 32, rng)]
    assert sizes == [32, 32, 32, 4]


@pytest.mark.parametrize("batch_size", [0, -3])
def test_minibatches_rejects_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match=rf"batch_size must be >= 1; got {batch_size}") as info:
        list(minibatches(np.zeros((4, 2)), np.zeros(4), batch_size))
    assert raises_here(info)


def test_minibatches_rejects_length_mismatch():
    with pytest.raises(ValueError, match=r"x has 4 examples but y has 5") as info:
        list(minibatches(np.zeros((4, 2)), np.zeros(5), 2))
    assert raises_here(info)
