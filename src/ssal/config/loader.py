"""YAML -> typed dataclasses, with ``_base_`` inheritance, ``--set a.b=c`` overrides, and validation up front.

A config file is a YAML mapping whose keys mirror the fields of a dataclass tree. ``_base_: other.yaml`` (or a
list) names files, relative to this one, that are loaded first; this file's keys then override theirs, mappings
merging key by key. Every leaf remembers the file that set it, so that an unknown key, a wrong type or a failed
validation names the YAML file, the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import hashlib
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from ssal.errors import SsalError

Sources = dict[tuple[str, ...], str]
BASE_KEY = "_base_"
_SOURCES = "_ssal_sources"


def load_config(path: str | os.PathLike, schema: type, overrides: typing.Sequence[str | tuple[str, str]] = ()):
    """Load ``path`` (with its bases), apply ``overrides`` (``"a.b=value"``, value parsed as YAML), build an
    instance of the dataclass ``schema`` and validate it.

    An override may be a pair ``("a.b=value", "what the user typed")``, e.g. ``("train.epochs=0", "--epochs 0")``:
    errors about that key then name the option as typed instead of ``--set a.b=value``."""
    sources: Sources = {}
    tree = _load_tree(Path(path), sources, stack=())
    for override in overrides:
        _apply_override(tree, sources, override)
    config = _build(schema, tree, (), sources, default_source=str(path))
    _validate(config, (), sources, default_source=str(path))
    return config


def config_to_dict(config) -> dict:
    return dataclasses.asdict(config)


def config_to_yaml(config) -> str:
    return yaml.safe_dump(_plain(config), sort_keys=False)


def config_fingerprint(config: Any) -> str:
    """A short, stable hash of a configuration (dataclass, mapping, or nested plain values): key order does not
    matter, tuples and lists hash alike. Checkpoints carry the model section's, manifests the whole config's."""
    canonical = json.dumps(_plain(config), sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- reading YAML
def _load_tree(path: Path, sources: Sources, stack: tuple[Path, ...]) -> dict:
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(str(p) for p in stack + (resolved,))
        raise SsalError(f"_base_ inheritance loops: {chain}", path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        where = stack[-1] if stack else None
        raise SsalError(f"config file {path} not found", where) if where else SsalError("config file not found", path)
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SsalError(f"invalid YAML{at}: {getattr(error, 'problem', None) or error}", path) from None
    tree = {} if tree is None else tree
    if not isinstance(tree, dict):
        raise SsalError(f"a config file must be a mapping of keys, got {type(tree).__name__}", path)
    bases = tree.pop(BASE_KEY, [])
    merged: dict = {}
    for base in [bases] if isinstance(bases, str) else bases:
        base_tree = _load_tree(path.parent / base, sources, stack + (resolved,))
        _merge(merged, base_tree)
    _record_sources(tree, (), str(path), sources)
    _merge(merged, tree)
    return merged


def _merge(into: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _record_sources(tree: Any, prefix: tuple[str, ...], source: str, sources: Sources) -> None:
    sources[prefix] = source
    if isinstance(tree, dict):
        for key, value in tree.items():
            _record_sources(value, prefix + (str(key),), source, sources)


def _apply_override(tree: dict, sources: Sources, override: str | tuple[str, str]) -> None:
    override, typed = override if isinstance(override, tuple) else (override, f"--set {override}")
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise SsalError(f"override {override!r} must look like KEY=VALUE, e.g. train.epochs=10", "--set")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    keys = key.strip().split(".")
    node = tree
    for depth, part in enumerate(keys[:-1]):
        if part not in node:
            node[part] = {}
        elif not isinstance(node[part], dict):
            # A section the file set to a scalar, a list or nothing: the override must not replace it with a
            # mapping of defaults; report the section as it would be reported without the override.
            inside = tuple(keys[: depth + 1])
            raise SsalError(f"{'.'.join(inside)}: expected a mapping of keys, got {_describe(node[part])}",
                            _source(sources, inside, typed))
        node = node[part]
    node[keys[-1]] = value
    _record_sources(value, tuple(keys), typed, sources)


# -------------------------------------------------------------------------------------- building dataclasses
def _source(sources: Sources, key: tuple[str, ...], default: str) -> str:
    for end in range(len(key), -1, -1):
        if key[:end] in sources:
            return sources[key[:end]]
    return default


def _build(schema: type, tree: Any, key: tuple[str, ...], sources: Sources, default_source: str):
    where = _source(sources, key, default_source)
    dotted = ".".join(key) or "<top level>"
    if not isinstance(tree, dict):
        raise SsalError(f"{dotted}: expected a mapping of keys, got {_describe(tree)}", where)
    hints = typing.get_type_hints(schema)
    known = {f.name: f for f in dataclasses.fields(schema) if f.init}
    for name in tree:
        if name not in known:
            raise SsalError(_unknown_key_message(key, str(name), list(known)), _source(sources, key + (str(name),),
                                                                                     default_source))
    values = {}
    for name, field in known.items():
        if name in tree:
            values[name] = _convert(hints[name], tree[name], key + (name,), sources, default_source)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise SsalError(f"{'.'.join(key + (name,))}: missing required key", where)
    section = schema(**values)
    # Where each key was set, so that code using a value (a dataset root, say) can name the file in its errors.
    object.__setattr__(section, _SOURCES, {name: _source(sources, key + (name,), default_source) for name in known})
    return section


def key_source(section: Any, name: str) -> str | None:
    """The YAML file (or ``--set`` override) that set ``name`` of a config section; None if not loaded from one."""
    return getattr(section, _SOURCES, {}).get(name)


def _convert(hint: Any, value: Any, key: tuple[str, ...], sources: Sources, default_source: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    where = _source(sources, key, default_source)
    dotted = ".".join(key)

    def wrong(expected: str):
        return SsalError(f"{dotted}: expected {expected}, got {_describe(value)}", where)

    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key, sources, default_source)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(option, value, key, sources, default_source)
            except SsalError as error:
                errors.append(error)
        raise wrong(" or ".join(_type_name(a) for a in args)) if len(errors) > 1 or not errors else errors[0]
    if origin is Literal:
        if value not in args:
            raise wrong("one of " + ", ".join(repr(a) for a in args))
        return value
    if origin in (list, tuple, typing.Sequence) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise wrong(_type_name(hint))
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise wrong(f"a list of {len(args)} values")
            items = [_convert(a, v, key + (str(i),), sources, default_source) for i, (a, v) in enumerate(zip(args, value))]
        else:
            item = args[0] if args else Any
            items = [_convert(item, v, key + (str(i),), sources, default_source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or hint is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise wrong("a mapping")
        key_type, item = args if args else (Any, Any)
        return {_convert(key_type, k, key, sources, default_source):
                _convert(item, v, key + (str(k),), sources, default_source) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise wrong(_type_name(hint))
    return value


def _validate(config, key: tuple[str, ...], sources: Sources, default_source: str) -> None:
    """Run ``validate()`` of every dataclass in the tree, children first; name the file that set the key."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            _validate(value, key + (field.name,), sources, default_source)
    validate = getattr(config, "validate", None)
    if validate is None:
        return
    try:
        validate()
    except SsalError as error:
        # Sections name the offending key relative to themselves or in full; report it in full.
        prefix = ".".join(key)
        dotted = error.where or prefix
        if prefix and not dotted.startswith(prefix):
            dotted = f"{prefix}.{dotted}"
        where = _source(sources, tuple(dotted.split(".")), default_source)
        raise SsalError(f"{dotted}: {error.message}", where) from None


def _unknown_key_message(prefix: tuple[str, ...], name: str, known: list[str]) -> str:
    dotted = ".".join(prefix + (name,))
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{'.'.join(prefix + (close[0],))}'? " if close else ""
    section = ".".join(prefix) or "the top level"
    return f"unknown key '{dotted}' ({hint}known keys of {section}: {', '.join(known)})"


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple) or hint in (list, tuple):
        return f"a list of {_type_name(args[0])}" if args else "a list"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 40 else text[:37] + '...'}"


def _plain(value: Any) -> Any:
    """Plain JSON-like values (dataclasses and mappings as dicts, tuples as lists, enums by value)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot fingerprint a value of type {type(value).__name__}: {value!r}")
