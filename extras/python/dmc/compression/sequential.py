"""dmc.Sequential: torch.nn.Sequential with the seed's ``fit`` / ``evaluate`` helpers."""
from __future__ import annotations

import torch.nn as nn

from .training import TrainableMixin


class Sequential(TrainableMixin, nn.Sequential):
    """An nn.Sequential that can ``fit`` and ``evaluate`` itself, and ``compress`` itself::

        model = dmc.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(4704, 10))
        model.fit(train_loader, epochs=10, val_loader=val_loader, patience=3)
        cm = model.compress(config, input_shape=(1, 1, 28, 28), calibration_data=train_loader)
    """

    def compress(self, config, input_shape, calibration_data=None, **kwargs):
        from .compressed_model import compress
        return compress(self, config, input_shape, calibration_data, **kwargs)

    # the seed's spelling
    init_compress = compress
