"""Bad input to nnfs.transformer: every public function refuses it with an error of its own.

The property tests feed the layers, the model, generation and the helpers
wrong shapes, wrong dtypes, empty arrays, non-arrays, ids outside the
vocabulary and NaNs, and assert that the error is raised by
nnfs.transformer's own code (not deep inside NumPy) and that its message
names what was expected and what arrived.  Where NaN is not an error (a NaN
activation propagates, as in PyTorch), the test says so and checks that.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnfs.nn import Parameter
from nnfs.transformer import (
    GELU,
    GPT,
    Block,
    CharTokenizer,
    Embedding,
    FeedForward,
    LayerNorm,
    MultiHeadAttention,
    clip_grad_norm,
    exact_match,
    reversal_batch,
    sinusoidal_positions,
    softmax_backward,
    softmax_last,
    train_reversal,
)

from helpers import raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch5

raises_here = raised_by_module("nnfs.transformer")
FLOATS = [np.float32, np.float64]


def expect_error(call, exc, *fragments):
    """call() raises exc from nnfs.transformer, with every fragment in its message."""
    with pytest.raises(exc) as info:
        call()
    assert raises_here(info), f"raised from {info.traceback[-1].frame.f_globals['__name__']}"
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


# ---------------------------------------------------------------------------
# Layers on float activations: shapes, dtypes, empty arrays, non-arrays
# ---------------------------------------------------------------------------

def make_layer(kind: str, d: int, heads: int, dtype):
    rng = np.random.default_rng(0)
    if kind == "LayerNorm":
        return LayerNorm(d, dtype=dtype)
    if kind == "MultiHeadAttention":
        return MultiHeadAttention(d, heads, True, rng, dtype)
    if kind == "FeedForward":
        return FeedForward(d, rng, dtype)
    return Block(d, heads, rng, dtype)


LAYERS = ["LayerNorm", "MultiHeadAttention", "FeedForward", "Block"]
NAME = {kind: kind for kind in LAYERS}
THREE_D = ("MultiHeadAttention", "Block")    # these need (B, T, d), not (..., d)


@st.composite
def layer_and_bad_shape(draw):
    kind = draw(st.sampled_from(LAYERS))
    heads = draw(st.integers(1, 3))
    d = heads * draw(st.integers(1, 3))
    b, t = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    fault = draw(st.sampled_from(["last axis", "empty batch", "empty sequence", "2-D", "0-D"]))
    if fault == "last axis":
        shape = (b, t, draw(st.integers(0, 12).filter(lambda n: n != d)))
    elif fault == "empty batch":
        shape = (0, t, d)
    elif fault == "empty sequence":
        shape = (b, 0, d)
    elif fault == "2-D":
        if kind in ("LayerNorm", "FeedForward"):   # (..., d): any leading axes are fine
            shape = (b * t, d + 1)
        else:
            shape = (b * t, d)
    else:
        shape = ()
    return kind, d, heads, draw(st.sampled_from(FLOATS)), shape


@settings(max_examples=60)
@given(case=layer_and_bad_shape())
def test_layers_reject_bad_shapes_naming_the_expected_shape(case):
    kind, d, heads, dtype, shape = case
    layer = make_layer(kind, d, heads, dtype)
    x = np.zeros(shape, dtype=dtype)
    want = f"(B, T, {d})" if kind in THREE_D else f"(..., {d})"
    expect_error(lambda: layer(x), ValueError, NAME[kind], want, str(tuple(shape)))


@settings(max_examples=40)
@given(kind=st.sampled_from(LAYERS), dtype=st.sampled_from(FLOATS),
       other=st.sampled_from([np.float16, np.float32, np.float64, np.int64, np.int32, bool]),
       heads=st.integers(1, 2))
def test_layers_reject_a_dtype_that_is_not_the_weights(kind, dtype, other, heads):
    if np.dtype(other) == np.dtype(dtype):
        other = np.float64 if dtype == np.float32 else np.float32
    d = 2 * heads
    layer = make_layer(kind, d, heads, dtype)
    x = np.ones((2, 3, d), dtype=other)
    expect_error(lambda: layer(x), ValueError, NAME[kind], np.dtype(other).name, np.dtype(dtype).name)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("bad", [[[0.0, 1.0]], None, 3.0], ids=["list", "None", "float"])
def test_layers_reject_what_is_not_an_array(kind, bad):
    layer = make_layer(kind, 2, 1, np.float64)
    expect_error(lambda: layer(bad), TypeError, NAME[kind], "(", type(bad).__name__)


@pytest.mark.parametrize("kind", LAYERS)
def test_nan_activations_propagate_as_in_pytorch(kind):
    """A NaN in the input is not an error of the layer: it comes out as NaN, and nothing crashes."""
    layer = make_layer(kind, 4, 2, np.float64)
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    x[1, 2, 0] = np.nan
    with np.errstate(invalid="ignore"):
        out = layer(x)
    assert np.isnan(out[1, 2]).any()
    assert np.isfinite(out[0]).all()   # no layer mixes the sequences of a batch


@settings(max_examples=30)
@given(dtype=st.sampled_from([np.int64, np.int32, bool, np.uint8]),
       shape=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_gelu_rejects_non_float_input(dtype, shape):
    x = np.ones(shape, dtype=dtype)
    expect_error(lambda: GELU()(x), ValueError, "GELU", "floating-point", np.dtype(dtype).name)


def test_gelu_rejects_a_list():
    expect_error(lambda: GELU()([1.0, 2.0]), TypeError, "GELU", "floating-point", "list")


@pytest.mark.parametrize("dim", [0, -3, 2.5, True, "4"])
def test_layernorm_rejects_a_bad_dim(dim):
    expect_error(lambda: LayerNorm(dim), ValueError, "LayerNorm", "dim must be an integer >= 1", repr(dim))


# ---------------------------------------------------------------------------
# softmax_last and softmax_backward
# ---------------------------------------------------------------------------

@settings(max_examples=40)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=3),
       dtype=st.sampled_from([np.int64, bool, np.float32, np.float64]))
def test_softmax_last_rejects_non_float_or_empty_last_axis(shape, dtype):
    z = np.zeros(shape, dtype=dtype)
    if np.dtype(dtype).kind == "f" and len(shape) >= 1 and shape[-1] >= 1:
        out = softmax_last(z)   # a valid input (possibly with empty leading axes)
        assert out.shape == z.shape
        return
    expect_error(lambda: softmax_last(z), ValueError, "softmax_last", "(..., n) with n >= 1",
                 np.dtype(dtype).name, str(tuple(shape)))


def test_softmax_last_of_nan_is_nan_only_in_its_row():
    z = np.random.default_rng(0).standard_normal((3, 5))
    z[1, 2] = np.nan
    out = softmax_last(z)
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()


@settings(max_examples=30)
@given(a=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       b=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_softmax_backward_rejects_mismatched_shapes(a, b):
    p, g = np.full(a, 0.5), np.ones(b)
    if tuple(a) == tuple(b):
        assert softmax_backward(p, g).shape == tuple(a)
        return
    expect_error(lambda: softmax_backward(p, g), ValueError, "softmax_backward", "same shape",
                 str(tuple(a)), str(tuple(b)))


@pytest.mark.parametrize("out", [np.zeros((2, 4)), np.zeros((3, 5), np.float32),
                                 np.zeros((3, 4)), [[0.0] * 5] * 3],
                         ids=["shape", "dtype", "both", "list"])
def test_softmax_functions_reject_an_out_unlike_their_result(out):
    z = np.random.default_rng(0).standard_normal((3, 5))
    p = softmax_last(z)
    for name, call in (("softmax_last", lambda: softmax_last(z, out=out)),
                       ("softmax_backward", lambda: softmax_backward(p, z, out=out))):
        expect_error(call, ValueError, name, "out must be an array of shape",
                     "(3, 5)", "float64")


# ---------------------------------------------------------------------------
# Ids: Embedding, GPT.forward, GPT.generate, CharTokenizer.decode
# ---------------------------------------------------------------------------

VOCAB, CONTEXT = 11, 6


@pytest.fixture(scope="module")
def model():
    return GPT(VOCAB, CONTEXT, 8, 2, 2, rng=np.random.default_rng(3), dtype=np.float64)


@st.composite
def bad_ids(draw, num: int):
    """(ids, fragments of the expected message) for an id array that is wrong in one way."""
    b, t = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    fault = draw(st.sampled_from(["too large", "negative", "float", "float NaN", "bool"]))
    ids = draw(st.lists(st.integers(0, num - 1), min_size=b * t, max_size=b * t))
    ids = np.array(ids, dtype=np.int64).reshape(b, t)
    where = (draw(st.integers(0, b - 1)), draw(st.integers(0, t - 1)))
    if fault == "too large":
        ids[where] = draw(st.integers(num, num + 1000))
        return ids, [f"0..{num - 1}", str(int(ids[where]))]
    if fault == "negative":
        ids[where] = draw(st.integers(-1000, -1))
        return ids, [f"0..{num - 1}", str(int(ids[where]))]
    if fault == "bool":
        return ids > 0, ["integers", "bool"]
    ids = ids.astype(draw(st.sampled_from(FLOATS)))
    if fault == "float NaN":
        ids[where] = np.nan
    return ids, ["integers", ids.dtype.name]


@settings(max_examples=50)
@given(num=st.integers(1, 9), data=st.data())
def test_embedding_rejects_bad_ids(num, data):
    ids, fragments = data.draw(bad_ids(num))
    emb = Embedding(num, 3, np.random.default_rng(0), name="my table")
    expect_error(lambda: emb(ids), ValueError, "my table", *fragments)


def test_embedding_rejects_a_list():
    emb = Embedding(4, 3, np.random.default_rng(0))
    expect_error(lambda: emb([0, 1]), TypeError, "Embedding", "integer array", "list")


@settings(max_examples=40)
@given(data=st.data())
def test_gpt_forward_and_generate_reject_bad_ids(model, data):
    ids, fragments = data.draw(bad_ids(VOCAB))
    expect_error(lambda: model(ids), ValueError, "token embedding", *fragments)
    for n_new in (0, 2):   # checked before any step, even when nothing is generated
        expect_error(lambda: model.generate(ids, n_new, rng=np.random.default_rng(0)), ValueError,
                     "prompt", *fragments)


@settings(max_examples=30)
@given(shape=st.lists(st.integers(0, 3), min_size=0, max_size=4))
def test_gpt_rejects_ids_that_are_not_a_non_empty_matrix(model, shape):
    ids = np.zeros(shape, dtype=np.int64)
    if len(shape) == 2 and 0 not in shape:
        assert model(ids).shape == (*shape, VOCAB)
        return
    expect_error(lambda: model(ids), ValueError, "GPT", "(B, T)", str(tuple(shape)))
    expect_error(lambda: model.generate(ids, 1), ValueError, "non-empty prompt", "(B, T)",
                 str(tuple(shape)))


@pytest.mark.parametrize("bad", [[[1, 2]], None], ids=["list", "None"])
def test_gpt_rejects_what_is_not_an_array(model, bad):
    expect_error(lambda: model(bad), ValueError, "GPT", "(B, T)", type(bad).__name__)
    expect_error(lambda: model.generate(bad, 1), ValueError, "non-empty prompt", type(bad).__name__)


@settings(max_examples=30)
@given(t=st.integers(CONTEXT + 1, 3 * CONTEXT))
def test_gpt_forward_rejects_more_than_the_context(model, t):
    expect_error(lambda: model(np.zeros((1, t), dtype=np.int64)), ValueError,
                 f"sequence length {t}", f"context length {CONTEXT}")


# ---------------------------------------------------------------------------
# generate's other arguments (issue: top_k=50 with a vocabulary of 11 passed in silence)
# ---------------------------------------------------------------------------

@settings(max_examples=30)
@given(top_k=st.integers(VOCAB + 1, 10_000))
def test_generate_rejects_top_k_above_the_vocabulary_naming_both(model, top_k):
    prompt = np.zeros((1, 2), dtype=np.int64)
    message = expect_error(lambda: model.generate(prompt, 1, top_k=top_k, rng=np.random.default_rng(0)),
                           ValueError, "top_k", f"vocabulary size {VOCAB}")
    assert re.search(rf"\b{top_k}\b", message)


def test_generate_top_k_equal_to_the_vocabulary_is_no_filter(model):
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    full = model.generate(prompt, 6, temperature=2.0, top_k=VOCAB, rng=np.random.default_rng(5))
    free = model.generate(prompt, 6, temperature=2.0, top_k=None, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(full, free)


@pytest.mark.parametrize("top_k", [0, -1, 2.0, True, "3", 11.5])
def test_generate_rejects_a_top_k_that_is_not_a_count(model, top_k):
    expect_error(lambda: model.generate(np.zeros((1, 2), dtype=np.int64), 1, top_k=top_k), ValueError,
                 "top_k must be an integer from 1", repr(top_k))


@pytest.mark.parametrize("temperature", [0, 0.0, -0.5, math.nan, math.inf, -math.inf, True, "1.0", None])
def test_generate_rejects_a_bad_temperature(model, temperature):
    expect_error(lambda: model.generate(np.zeros((1, 2), dtype=np.int64), 1, temperature=temperature),
                 ValueError, "temperature must be > 0 and finite", repr(temperature))


@pytest.mark.parametrize("n_new", [-1, 1.5, True, None, "3"])
def test_generate_rejects_a_bad_number_of_new_tokens(model, n_new):
    expect_error(lambda: model.generate(np.zeros((1, 2), dtype=np.int64), n_new), ValueError,
                 "max_new_tokens must be an integer >= 0", repr(n_new))


def test_generate_refuses_nan_weights_instead_of_numpy_failing_on_the_probabilities():
    broken = GPT(VOCAB, CONTEXT, 8, 2, 1, rng=np.random.default_rng(0), dtype=np.float64)
    broken.blocks[0].ffn.out.weight.data[0, 0] = np.nan
    with np.errstate(invalid="ignore"):
        expect_error(lambda: broken.generate(np.zeros((1, 2), dtype=np.int64), 1,
                                             rng=np.random.default_rng(0)), ValueError, "not finite")


@pytest.mark.parametrize("bad", [["a", "b"], b"ab", None], ids=["list", "bytes", "None"])
def test_char_tokenizer_rejects_what_is_not_text(bad):
    expect_error(lambda: CharTokenizer(bad), TypeError, "CharTokenizer", "str", type(bad).__name__)
    expect_error(lambda: CharTokenizer("abc").encode(bad), TypeError, "encode", "str", type(bad).__name__)


@settings(max_examples=30)
@given(data=st.data())
def test_char_tokenizer_decode_rejects_ids_outside_the_vocabulary(data):
    tok = CharTokenizer("hello world")          # 8 characters
    ids = data.draw(st.lists(st.integers(-50, 50), min_size=1, max_size=10))
    bad = [i for i in ids if not 0 <= i < 8]
    if not bad:
        assert len(tok.decode(ids)) == len(ids)
        return
    expect_error(lambda: tok.decode(ids), ValueError, "0..7", str(bad[0]))


# ---------------------------------------------------------------------------
# Constructors and helpers: counts, NaN and infinite numbers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    (dict(vocab_size=0), "vocab_size"), (dict(vocab_size=2.5), "vocab_size"),
    (dict(context_length=0), "context_length"), (dict(context_length=-4), "context_length"),
    (dict(n_layers=-1), "n_layers"), (dict(n_layers=1.0), "n_layers"),
], ids=repr)
def test_gpt_rejects_bad_sizes(kwargs, name):
    args = dict(vocab_size=VOCAB, context_length=CONTEXT, d_model=8, n_heads=2, n_layers=1)
    args.update(kwargs)
    expect_error(lambda: GPT(**args, rng=np.random.default_rng(0)), ValueError,
                 f"{name} must be an integer", repr(kwargs[name]))


@pytest.mark.parametrize("n, dim", [(-1, 4), (3, 0), (2.0, 4), (3, True)])
def test_sinusoidal_positions_rejects_bad_sizes(n, dim):
    expect_error(lambda: sinusoidal_positions(n, dim), ValueError, "must be an integer")


def test_sinusoidal_positions_of_zero_positions_is_empty():
    assert sinusoidal_positions(0, 4).shape == (0, 4)


@pytest.mark.parametrize("max_norm", [0, -1.0, math.nan, math.inf, True, "1", None])
def test_clip_grad_norm_rejects_a_bad_max_norm(max_norm):
    p = Parameter(np.ones(3))
    expect_error(lambda: clip_grad_norm([p], max_norm), ValueError, "max_norm must be > 0 and finite",
                 repr(max_norm))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_clip_grad_norm_refuses_non_finite_gradients_unless_told(bad):
    """PyTorch's clip_grad_norm_ has error_if_nonfinite=False by default; we refuse unless told to go on."""
    params = [Parameter(np.ones(3)), Parameter(np.ones((2, 2)))]
    params[1].grad[...] = 1.0
    params[1].grad[0, 1] = bad
    before = [p.grad.copy() for p in params]
    expect_error(lambda: clip_grad_norm(params, 1.0), ValueError, "norm", "NaN or infinite")
    total = clip_grad_norm(params, 1.0, error_if_nonfinite=False)
    assert not math.isfinite(total)
    for p, g in zip(params, before):    # left alone, as PyTorch does not scale by a NaN either
        np.testing.assert_array_equal(p.grad, g)


def test_clip_grad_norm_of_no_parameters_is_zero():
    assert clip_grad_norm([], 1.0) == 0.0


@pytest.mark.parametrize("call, name", [
    (lambda: reversal_batch(0, np.random.default_rng(0)), "n"),
    (lambda: reversal_batch(2.0, np.random.default_rng(0)), "n"),
    (lambda: exact_match(None, n=0), "n"),
    (lambda: train_reversal(steps=0), "steps"),
    (lambda: train_reversal(batch=-2), "batch"),
], ids=["batch of 0", "float batch", "exact_match n=0", "no steps", "negative batch"])
def test_task_helpers_reject_bad_counts(call, name):
    expect_error(call, ValueError, f"{name} must be an integer >= 1")
