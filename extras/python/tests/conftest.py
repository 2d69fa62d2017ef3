"""Shared fixtures and small model builders for the dmc test suite.

Everything here is deliberately tiny (a few channels, 8x8 inputs) so that the whole suite runs
in seconds on two CPU cores.
"""
from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



def pytest_configure(config):
    config.addinivalue_line("markers", "install: builds the dmc package and installs it into a fresh venv outside "
                            "the repository, offline (pip --no-index; numpy and tqdm linked from this environment)")


settings.register_profile("dmc", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dmc")

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

torch.set_num_threads(1)

import dmc  # noqa: E402


# -- model builders --------------------------------------------------------------------------------

def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random running statistics and affine parameters (eval-mode meaningful)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) * 2.0 + 0.2)
                if m.weight is not None:
                    m.weight.copy_(torch.randn(c, generator=g) * 0.5 + 1.0)
                    m.bias.copy_(torch.randn(c, generator=g) * 0.3)
    return model


def seq_cnn(c1: int = 5, c2: int = 7, n_out: int = 4, bn: bool = True, in_ch: int = 3) -> nn.Sequential:
    """Conv-BN-ReLU x2, MaxPool, Flatten, Linear for (N, in_ch, 8, 8) inputs."""
    layers = [nn.Conv2d(in_ch, c1, 3, padding=1)]
    layers += [nn.BatchNorm2d(c1)] if bn else []
    layers += [nn.ReLU(), nn.Conv2d(c1, c2, 3, padding=1, stride=2)]
    layers += [nn.BatchNorm2d(c2)] if bn else []
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c2 * 2 * 2, n_out)]
    return randomize_bn(nn.Sequential(*layers)).eval()


class ResidualNet(nn.Module):
    """stem -> [conv1 -> conv2] + skip -> ReLU -> depthwise -> conv3 -> GAP -> view -> fc.

    ``stem`` and ``conv2`` feed the same residual add, so they form one channel group, which the
    depthwise conv rides along with; ``fc`` feeds the output and may never be pruned.
    Input: (N, 3, 8, 8).
    """

    def __init__(self, c: int = 7, mid: int = 5, c3: int = 9, n_out: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.bn0 = nn.BatchNorm2d(c)
        self.conv1 = nn.Conv2d(c, mid, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c)
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.conv3 = nn.Conv2d(c, c3, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c3, n_out)

    def forward(self, x):
        x = F.relu(self.bn0(self.stem(x)))
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        x = F.relu(x + y)
        x = F.relu(self.dw(x))
        x = F.relu(self.conv3(x))
        x = self.pool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


def residual_net(**kw) -> ResidualNet:
    return randomize_bn(ResidualNet(**kw)).eval()


def mlp(n_in: int = 20, hidden: int = 13, n_out: int = 5) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, 11), nn.ReLU(),
                         nn.Linear(11, n_out)).eval()


def static_config(bits: int = 8, granularity: str = "per_tensor", act_bits: int = 8, **extra) -> dict:
    q = {"scheme": "static", "bitwidth": bits, "granularity": granularity, "activation_bitwidth": act_bits}
    q.update(extra)
    return {"quantize": q}


# -- models for the quantization tests (interpreter, dynamic scheme) ---------------------------------

def _with_head(body, shape, seed, n_out=6):
    feat = nn.Sequential(*body).eval()(torch.zeros((1,) + shape)).numel()
    return randomize_bn(nn.Sequential(*body, nn.Flatten(), nn.Linear(feat, n_out)), seed).eval(), (1,) + shape


def conv_geometry(seed):
    """strides, padding, dilation, a non-square kernel."""
    torch.manual_seed(seed)
    return _with_head([nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU(),
                       nn.Conv2d(6, 5, (3, 2), stride=(1, 2), padding=(2, 1), dilation=2), nn.ReLU()], (3, 9, 9), seed)


def depthwise_pools(seed):
    """depthwise conv + BN + ReLU6, AvgPool2d(2), AdaptiveAvgPool2d(1)."""
    torch.manual_seed(seed)
    return _with_head([nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                       nn.BatchNorm2d(8), nn.ReLU6(), nn.AvgPool2d(2), nn.Conv2d(8, 6, 3, padding=1), nn.ReLU(),
                       nn.AdaptiveAvgPool2d(1)], (3, 8, 8), seed)


def maxpool_relu(seed):
    """maxpool with padding on signed values, a standalone ReLU after it, avgpool with padding."""
    torch.manual_seed(seed)
    return _with_head([nn.Conv2d(3, 6, 3, padding=1), nn.MaxPool2d(3, stride=2, padding=1), nn.ReLU(),
                       nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(), nn.AvgPool2d(3, stride=2, padding=1)], (3, 8, 8), seed)


def pads(seed):
    """ZeroPad2d merged into a conv, ConstantPad2d kept as an op, ZeroPad2d before a maxpool."""
    torch.manual_seed(seed)
    return _with_head([nn.ZeroPad2d((1, 0, 2, 1)), nn.Conv2d(3, 6, 3), nn.ReLU(), nn.ConstantPad2d(1, 0.5),
                       nn.Conv2d(6, 6, 3), nn.ReLU(), nn.ZeroPad2d(1), nn.MaxPool2d(2)], (3, 7, 7), seed)


def residual(seed):
    """residual add with ReLU after it, depthwise conv, GAP, x.view(N, -1)."""
    torch.manual_seed(seed)
    return residual_net(), (1, 3, 8, 8)


def linear_only(seed):
    torch.manual_seed(seed)
    return mlp(20, 13, 5), (1, 20)


QUANT_MODELS = {f.__name__: f for f in (conv_geometry, depthwise_pools, maxpool_relu, pads, residual, linear_only)}


def random_data(shape, n, gen):
    """Gaussian noise plus a per-sample, per-channel offset (so that pooled outputs still vary)."""
    x = torch.randn((n,) + tuple(shape[1:]), generator=gen)
    return x + 1.5 * torch.randn((n, shape[1]) + (1,) * (len(shape) - 2), generator=gen)



@pytest.fixture(scope="session")
def oversized_model(tmp_path_factory):
    """A .dmc whose 8-bit weights (50 KB) and 1.2 KB input cannot fit an Uno: for budget errors."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    cfg = {"quantize": {"scheme": "static", "bitwidth": 8}}
    qm = dmc.convert(dmc.compress(model, cfg, (1, 1, 28, 28), calibration_data=torch.rand(64, 1, 28, 28)))
    path = tmp_path_factory.mktemp("oversized") / "oversized.dmc"
    qm.save(path)
    return path
