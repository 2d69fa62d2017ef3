"""Train and compress the SineRegressor example's model: y = sin(x) for x in [0, 2*pi].

    python train_sine.py            # writes sine.dmc next to this file

A 1-16-16-1 MLP, 8-bit weights and activations, static (integer-only) quantization.
"""
from pathlib import Path

import torch

import dmc
from dmc.zoo import sine_regressor


def main():
    torch.manual_seed(25)
    x = torch.rand(4096, 1) * 2 * torch.pi
    y = torch.sin(x)
    xv = torch.linspace(0, 2 * torch.pi, 512)[:, None]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=128, shuffle=True)
    val = [(xv, torch.sin(xv))]
    model = sine_regressor()
    model.fit(loader, epochs=150, val_loader=val, lr=3e-3, loss_fn=torch.nn.MSELoss(), progress=False)
    config = {"quantize": {"scheme": "static", "bitwidth": 8, "granularity": "per_channel", "activation_bitwidth": 8}}
    cm = dmc.compress(model, config, input_shape=(1, 1), calibration_data=x)
    cm.fit(loader, epochs=20, val_loader=val, lr=1e-3, loss_fn=torch.nn.MSELoss(), progress=False)
    qm = dmc.convert(cm)
    err = abs(qm.predict(xv.numpy(), dequantize=True) - torch.sin(xv).numpy()).max()
    qm.summary()
    print(f"max |error| of the integer model on [0, 2 pi]: {err:.4f}")
    qm.save(Path(__file__).with_name("sine.dmc"))


if __name__ == "__main__":
    main()
