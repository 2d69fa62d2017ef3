"""BatchNorm folding (dmc.compress.fold_batchnorm) is equivalent to the eval-mode pair."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from dmc.compression.compressed_model import fold_batchnorm, lower
from dmc.compression.graph import trace


def random_bn(bn, gen):
    with torch.no_grad():
        c = bn.num_features
        bn.running_mean.copy_(torch.randn(c, generator=gen) * 2.0)
        bn.running_var.copy_(torch.rand(c, generator=gen) * 3.0 + 0.05)
        if bn.affine:
            bn.weight.copy_(torch.randn(c, generator=gen))
            bn.bias.copy_(torch.randn(c, generator=gen))
    return bn.eval()


def check_fold(layer, bn, x):
    pair = nn.Sequential(layer, bn).eval()
    with torch.no_grad():
        expected = pair(x).double()
        folded = copy.deepcopy(layer)
        fold_batchnorm(folded, bn)
        got = folded(x).double()
    scale = expected.abs().max().item() + 1.0
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * scale), (got - expected).abs().max()
    assert folded.bias is not None
    return folded


@settings(max_examples=25)
@given(seed=st.integers(0, 10 ** 6), cin=st.integers(1, 5), cout=st.integers(1, 7), k=st.sampled_from([1, 3]),
       bias=st.booleans(), affine=st.booleans(), eps=st.sampled_from([1e-5, 1e-3, 0.1]),
       stride=st.sampled_from([1, 2]))
def test_conv_bn2d(seed, cin, cout, k, bias, affine, eps, stride):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)
    bn = random_bn(nn.BatchNorm2d(cout, eps=eps, affine=affine), gen)
    check_fold(conv, bn, torch.randn(3, cin, 6, 7, generator=gen))


@settings(max_examples=15)
@given(seed=st.integers(0, 10 ** 6), c=st.integers(1, 6), bias=st.booleans())
def test_depthwise_conv_bn2d(seed, c, bias):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    conv = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=bias)
    check_fold(conv, random_bn(nn.BatchNorm2d(c), gen), torch.randn(2, c, 5, 5, generator=gen))


@settings(max_examples=25)
@given(seed=st.integers(0, 10 ** 6), fin=st.integers(1, 12), fout=st.integers(1, 9), bias=st.booleans(),
       affine=st.booleans())
def test_linear_bn1d(seed, fin, fout, bias, affine):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    lin = nn.Linear(fin, fout, bias=bias)
    bn = random_bn(nn.BatchNorm1d(fout, affine=affine), gen)
    check_fold(lin, bn, torch.randn(5, fin, generator=gen))


def test_fold_is_in_place_and_leaves_bn_alone():
    gen = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, bias=False)
    bn = random_bn(nn.BatchNorm2d(3), gen)
    w0 = conv.weight.detach().clone()
    stats = bn.running_mean.clone(), bn.running_var.clone()
    fold_batchnorm(conv, bn)
    factor = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    assert torch.allclose(conv.weight, w0 * factor[:, None, None, None])
    assert torch.allclose(conv.bias, bn.bias - bn.running_mean * factor)
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])


def test_lowering_folds_bn_and_keeps_model_output():
    """The lowered graph (what CompressedModel runs) has no BN and computes the same function."""
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 36, 6), nn.BatchNorm1d(6)).eval()
    random_bn(model[1], gen)
    random_bn(model[5], gen)
    x = torch.randn(4, 3, 8, 8, generator=gen)
    with torch.no_grad():
        expected = model(x)
        graph = trace(copy.deepcopy(model), (1, 3, 8, 8))
        nodes, output = lower(graph)
    assert [n.op for n in nodes] == ["input", "conv2d", "flatten", "linear"]
    assert nodes[1].attrs["folded"] == "1" and nodes[1].attrs["act"] == "relu"
    assert nodes[3].attrs["folded"] == "5"
    with torch.no_grad():
        h = torch.relu(nodes[1].module(x)).flatten(1)
        got = nodes[3].module(h)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_bn_that_cannot_be_folded_is_rejected():
    import dmc
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)).eval()
    with pytest.raises(dmc.UnsupportedModelError, match="BatchNorm '2'"):
        dmc.compress(model, {"quantize": {"scheme": "dynamic"}}, (1, 3, 8, 8))
