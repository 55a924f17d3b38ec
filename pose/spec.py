"""Typed views of params/ entries: a dataclass built from a mapping, with a clear error naming the
file and field when a key is unknown, missing or of the wrong type."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pose.errors import ConfigError

T = TypeVar("T")


def _type_ok(value: Any, tp: Any) -> bool:
    """Shallow check of `value` against an annotation (enough for YAML scalars, lists, dicts)."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(tp))
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if tp is type(None):
        return value is None
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                return False
            return all(_type_ok(v, a) for v, a in zip(value, args, strict=True))
        inner = args[0] if args else Any
        return all(_type_ok(v, inner) for v in value)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return isinstance(value, Mapping)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if dataclasses.is_dataclass(tp):
        return isinstance(value, Mapping | tp)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _type_name(tp: Any) -> str:
    """An annotation as a message names it: a Literal lists its allowed values (`one of 'step',
    'sgdr', 'linear'`), a union each of its members."""
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        values = [repr(v) for v in typing.get_args(tp)]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved field types, once per class (the registry builds thousands)."""
    return typing.get_type_hints(cls)


def from_dict(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    """Build dataclass `cls` from `data`; `where` names the source (e.g. 'params/models.yaml:
    hrnet_w32') in any error. Nested dataclass fields are built recursively."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = _type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown}; expected some of {sorted(fields)}"
        )
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            has_default = (
                field.default is not dataclasses.MISSING
                or field.default_factory is not dataclasses.MISSING
            )
            if not has_default:
                raise ConfigError(f"{where}: missing required key '{name}'")
            continue
        value, tp = data[name], hints[name]
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            value = from_dict(tp, value, f"{where}.{name}")
        elif not _type_ok(value, tp):
            raise ConfigError(
                f"{where}.{name}: expected {_type_name(tp)}, got "
                f"{type(value).__name__} {value!r}"
            )
        if isinstance(value, list) and typing.get_origin(tp) is tuple:
            value = tuple(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError as err:  # a range check of the dataclass itself: say where it sits
        raise ConfigError(f"{where}: {err}") from err


# Field metadata of a key added after runs were recorded: to_dict leaves it out while it holds
# its default, so the hashes of every entry that does not set it stay as they were.
OMIT_DEFAULT = {"omit_default": True}


def _omitted(obj: Any, f: dataclasses.Field) -> bool:
    if not f.metadata.get("omit_default"):
        return False
    default = (f.default if f.default is not dataclasses.MISSING
               else f.default_factory())  # type: ignore[misc]
    return getattr(obj, f.name) == default


def to_dict(obj: Any) -> Any:
    """Plain (YAML-dumpable) form of a dataclass tree (OMIT_DEFAULT fields only when set)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not _omitted(obj, f)}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: mappings merge key by key, anything else in `override` replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
