"""The YAML configuration of the tools: model.yaml (architecture + training recipe) and
datasets.yaml (which data set, where, how it is split and batched), with command-line overrides.

Both files are flat mappings; every key has a default, so a missing file means the defaults.
Unknown keys and wrongly typed values are ConfigErrors naming the file and the key.
"""
from __future__ import annotations

import difflib
import functools
from pathlib import Path

from ..errors import ConfigError

# key -> (default, accepted types, help)
MODEL_KEYS = {
    "arch": ("lenet5", (str,), "architecture name (dmc.zoo registry)"),
    "options": ({}, (dict,), "extra builder options, e.g. {width_mult: 0.35}"),
    "epochs": (10, (int,), "training epochs"),
    "lr": (2e-3, (float, int), "Adam learning rate (cosine decay over the epochs)"),
    "weight_decay": (0.0, (float, int), "Adam weight decay"),
    "augment_shift": (2, (int,), "random shifts of up to N pixels during training (0: off)"),
    "augment_flip": (False, (bool,), "random left-right mirroring during training (clothing, objects; not digits)"),
    "seed": (25, (int,), "seed of the initial weights and of the training order"),
    "teacher": (None, (str,), "a trained checkpoint to distill from (same input and classes; null: none)"),
}
DATASET_KEYS = {
    "dataset": ("fashion_mnist", (str,), "mnist, fashion_mnist, cifar10 or folder"),
    "root": (None, (str,), "data folder (default: the dataset's own search path)"),
    "val_size": (None, (int, float), "validation images carved from train: a count or a fraction"),
    "batch_size": (128, (int,), "batch size"),
    "download": (True, (bool,), "download when the data is not found locally (needs a network)"),
    "channels": (None, (int,), "folder datasets: 1 (grey) or 3 (RGB)"),
    "input_size": (None, (int, list), "folder datasets: image size, an int or [height, width]"),
    "split_seed": (25, (int,), "seed of the validation split"),
    "train_limit": (None, (int,), "train on the first N training images only (quick runs)"),
}


def _check(values: dict, schema: dict, where: str) -> dict:
    out = {k: (dict(v[0]) if isinstance(v[0], dict) else v[0]) for k, v in schema.items()}
    for key, value in values.items():
        if key not in schema:
            hint = difflib.get_close_matches(str(key), list(schema), n=1)
            raise ConfigError(f"{where}: unknown key '{key}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                              + f"; valid keys: {list(schema)}")
        default, types, _ = schema[key]
        if value is not None and (not isinstance(value, types) or isinstance(value, bool) and bool not in types):
            raise ConfigError(f"{where}: '{key}' must be {' or '.join(t.__name__ for t in types)}, "
                              f"got {value!r}")
        if value is None and default is not None:
            raise ConfigError(f"{where}: '{key}' may not be empty")
        out[key] = value
    return out


def read_yaml(path) -> dict:
    """A YAML file holding one mapping (an empty file is an empty mapping)."""
    import yaml
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, found {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[str, object]:
    """``key=value`` with the value read as YAML (numbers, booleans, lists, null)."""
    import yaml
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text}: the value is not valid YAML ({e})") from None


def load_configs(model_path=None, dataset_path=None, overrides: dict | None = None,
                 sets: list[str] | None = None) -> tuple[dict, dict]:
    """(model config, dataset config): defaults, then the YAML files, then ``--set KEY=VALUE``
    pairs, then ``overrides`` (the explicit command-line options; None values are ignored).
    A key goes to the file whose schema has it."""
    model = read_yaml(model_path) if model_path else {}
    data = read_yaml(dataset_path) if dataset_path else {}
    later = [parse_override(s) for s in sets or []] + [(k, v) for k, v in (overrides or {}).items() if v is not None]
    for key, value in later:
        if key in MODEL_KEYS:
            model[key] = value
        elif key in DATASET_KEYS:
            data[key] = value
        else:
            hint = difflib.get_close_matches(key, list(MODEL_KEYS) + list(DATASET_KEYS), n=1)
            raise ConfigError(f"unknown setting '{key}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                              + f"; model keys: {list(MODEL_KEYS)}; dataset keys: {list(DATASET_KEYS)}")
    model = _check(model, MODEL_KEYS, str(model_path or "model config"))
    data = _check(data, DATASET_KEYS, str(dataset_path or "dataset config"))
    if model["epochs"] < 1:
        raise ConfigError(f"{model_path or 'model config'}: 'epochs' must be >= 1, got {model['epochs']}")
    if data["batch_size"] < 1:
        raise ConfigError(f"{dataset_path or 'dataset config'}: 'batch_size' must be >= 1, got {data['batch_size']}")
    if isinstance(data["input_size"], list):
        data["input_size"] = tuple(data["input_size"])
    return model, data


def dataset_from_config(data: dict):
    """The Splits of a dataset config (the last one loaded is kept: train, quantize and compare
    in one process read a data set once)."""
    import copy
    import os
    root = os.path.expanduser(data["root"]) if data["root"] else None
    splits = copy.copy(_load(data["dataset"], root, data["val_size"], data["split_seed"], data["download"],
                             data["channels"], data["input_size"]))
    limit = data.get("train_limit")
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"'train_limit' must be >= 1, got {limit}")
        splits.x_train, splits.y_train = splits.x_train[:limit], splits.y_train[:limit]
    return splits


@functools.lru_cache(maxsize=1)
def _load(name, root, val_size, seed, download, channels, input_size):
    from ..data import load_dataset
    return load_dataset(name, root=root, val_size=val_size, seed=seed, download=download, channels=channels,
                        input_size=input_size)
