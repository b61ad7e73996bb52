"""The method registry: one decorator, discovery of ``methods/``, and an entry-point group.

A method is a function ``fn(backbone, **params)`` that, given a :class:`BackboneAdapter`
whose parameters are all frozen except the new head, adds what it adds (DRS layers, LoRA
adapters, ...), and a declaration ``trains(backbone, name, owner)`` of the parameters it trains
besides the head; the model builder (``benchmark.models.build.apply_method``) sets
``requires_grad`` from the declaration after the function has run::

    @register_method(description="Fine-tune every layer", citation="Byra (2021), section 2.3",
                     trains=lambda backbone, name, owner: True)
    def finetune_all(backbone):
        pass  # nothing to add: the declaration makes every parameter trainable

Keyword arguments of ``fn`` are the method's own hyper-parameters; their defaults are
used unless a search space (``{name: optuna distribution}``) supplies others. ``lr`` is the
method's learning-rate prior, ``(low, high)``, searched on a log scale (default
``DEFAULT_LR``, right for a new head or a few scaling parameters; a whole pretrained network
wants far smaller rates). The first trial of a search tries the geometric centre of the
range with the method's defaults.
Methods are combined by :func:`compose`, which applies them in order.

What the checks of every method (``tests/plugins/test_method_contract.py``) hold a method to:
``family`` and ``source`` (one of ``SOURCES``: the seed paper, peft, the literature, or a
third-party plugin) group it in ``petl-bench methods`` and the report; ``trains(backbone,
name, owner)`` (required) says which parameters it trains besides the head (the parameter's full
name and the module holding it), and exactly those receive gradients; ``identity_at_init=True``
claims the adapted network computes the pretrained one before training; ``merge(backbone)``,
where offered, folds what was added into the backbone's own weights (merge-and-unload) without
changing a score. A method that changes how training runs (a loss penalty, stages, a step
after training) fills in ``backbone.hooks`` (``benchmark.models.hooks``).

Other packages register methods through the entry-point group ``petl_bench.methods``:
each entry point names a module (or a callable) that registers methods when loaded.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

ENTRY_POINT_GROUP = "petl_bench.methods"
BN_POLICIES = ("frozen", "eval", "train")
DEFAULT_LR = (1e-4, 1e-2)  # Adam learning rates for a new head or a few scaling parameters
SOURCES = ("paper", "peft", "literature", "plugin")  # where a method comes from
CORE = ("feature_extraction", "finetune_last_block", "finetune_all", "drs", "drs_finetune_last_block",
        "drs_finetune_all", "lora", "bitfit")  # the seed paper's six, LoRA and BitFit


@dataclass(frozen=True, kw_only=True)
class Method:
    name: str
    apply: Callable[..., None]
    description: str
    citation: str
    trains: Callable[[Any, str, Any], bool]  # (backbone, parameter's full name, owner module)
    search_space: dict[str, Any] = field(default_factory=dict)
    bn_stats: str = "frozen"
    components: tuple[str, ...] = ()
    lr: tuple[float, float] = DEFAULT_LR
    family: str = "other"
    source: str = "plugin"
    identity_at_init: bool = False
    merge: Callable[[Any], None] | None = None

    @property
    def default_lr(self) -> float:
        """The geometric centre of the learning-rate range: the first trial's rate."""
        return float((self.lr[0] * self.lr[1]) ** 0.5)

    def defaults(self) -> dict[str, Any]:
        """The method's own hyper-parameters with their default values."""
        sig = inspect.signature(self.apply)
        return {k: p.default for k, p in list(sig.parameters.items())[1:]
                if p.default is not inspect.Parameter.empty}

    def bn_stats_description(self) -> str:
        if self.bn_stats == "frozen":
            return ("batch-norm running statistics of frozen layers stay frozen (eval mode); "
                    "layers whose affine parameters are trained update them")
        if self.bn_stats == "eval":
            return ("every batch-norm layer keeps the pretrained running statistics (eval mode), "
                    "also those whose affine parameters are trained")
        return "every batch-norm layer updates its running statistics during training"


_REGISTRY: dict[str, Method] = {}
_discovered = False


def register_method(fn: Callable | None = None, *, name: str | None = None, description: str,
                    citation: str, trains: Callable[[Any, str, Any], bool] | None = None,
                    search_space: dict | None = None, bn_stats: str = "frozen",
                    lr: tuple[float, float] = DEFAULT_LR, family: str = "other", source: str = "plugin",
                    identity_at_init: bool = False, merge: Callable | None = None):
    """Register ``fn`` as a method (usable as ``@register_method(...)``); ``trains`` is required."""

    def decorator(f: Callable) -> Callable:
        method_name = name or f.__name__
        _check_new(method_name, description, citation, bn_stats, lr, source)
        if not callable(trains):
            where = f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', method_name)}"
            raise TypeError(
                f"method {method_name!r} ({where}) does not declare what it trains: add "
                f"trains=lambda backbone, name, owner: ... to its @register_method(...), true for each "
                f"parameter it trains besides the head (name: the parameter's full name, owner: the "
                f"module holding it; lambda backbone, name, owner: False trains the head alone). "
                f"See docs/methods.md, 'Adding a method'")
        unknown = set(search_space or {}) - set(inspect.signature(f).parameters)
        if unknown:
            raise ValueError(f"method {method_name!r}: search space names {sorted(unknown)} are not "
                             f"keyword arguments of {f.__name__}()")
        _REGISTRY[method_name] = Method(
            name=method_name, apply=f, description=description, citation=citation, trains=trains,
            search_space=dict(search_space or {}), bn_stats=bn_stats, components=(method_name,),
            lr=(float(lr[0]), float(lr[1])), family=family, source=source,
            identity_at_init=identity_at_init, merge=merge)
        return f

    return decorator(fn) if fn is not None else decorator


def compose(name: str, *parts: str, description: str, citation: str,
            bn_stats: str | None = None, family: str | None = None) -> Method:
    """Register a method that applies the registered methods ``parts`` in order.

    Its learning-rate range is the most cautious of its parts' (the smallest low and high):
    DRS with full fine-tuning takes full fine-tuning's rates. It trains what any part trains,
    starts as the identity where every part does, comes from the first part's source, and
    belongs to ``family`` (default: the parts' families joined by " + ")."""
    methods = [_REGISTRY[p] if p in _REGISTRY else _missing(p) for p in parts]
    space: dict[str, Any] = {}
    for m in methods:
        space.update(m.search_space)

    def apply(backbone, **params):
        for m in methods:
            own = {k: v for k, v in params.items() if k in m.defaults()}
            m.apply(backbone, **own)

    apply.__signature__ = inspect.Signature(
        [inspect.Parameter("backbone", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
           for m in methods for k, v in m.defaults().items()])
    policy = bn_stats or next((p for p in ("train", "eval") if any(m.bn_stats == p for m in methods)), "frozen")
    lr = (min(m.lr[0] for m in methods), min(m.lr[1] for m in methods))
    source = methods[0].source
    _check_new(name, description, citation, policy, lr, source)

    def trains(backbone, param, owner):
        return any(m.trains(backbone, param, owner) for m in methods)

    method = Method(name=name, apply=apply, description=description, citation=citation, trains=trains,
                    search_space=space, bn_stats=policy, components=tuple(c for m in methods for c in m.components),
                    lr=lr, family=family or " + ".join(dict.fromkeys(m.family for m in methods)),
                    source=source, identity_at_init=all(m.identity_at_init for m in methods))
    _REGISTRY[name] = method
    return method


def _check_new(name: str, description: str, citation: str, bn_stats: str, lr, source: str = "plugin") -> None:
    if name in _REGISTRY:
        raise ValueError(f"a method named {name!r} is already registered")
    if len(lr) != 2 or not 0 < lr[0] < lr[1]:
        raise ValueError(f"method {name!r}: lr must be (low, high) with 0 < low < high, got {lr!r}")
    if not description or not citation:
        raise ValueError(f"method {name!r} must declare a description and a citation")
    if bn_stats not in BN_POLICIES:
        raise ValueError(f"method {name!r}: bn_stats must be one of {BN_POLICIES}, got {bn_stats!r}")
    if source not in SOURCES:
        raise ValueError(f"method {name!r}: source must be one of {SOURCES}, got {source!r}")


def _missing(name: str):
    raise KeyError(f"cannot compose: no method named {name!r} is registered yet")


def discover() -> None:
    """Import every module of the ``methods`` package and every entry point, once."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    import methods as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:  # noqa: BLE001
            raise ImportError(f"entry point {ep.name!r} in group {ENTRY_POINT_GROUP} "
                              f"({ep.value}) failed to load: {exc}") from exc
        if callable(loaded) and not inspect.ismodule(loaded):
            loaded()


def get_method(name: str) -> Method:
    discover()
    if name not in _REGISTRY:
        raise KeyError(f"no method named {name!r}; registered: {', '.join(sorted(_REGISTRY))} "
                       f"(`petl-bench methods` lists them; sets: all, core, {', '.join(SOURCES)})")
    return _REGISTRY[name]


def list_methods() -> list[Method]:
    discover()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def method_set(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """The method names a set names, in registry order where it is a set: "all" (every registered
    method), "core" (``CORE``), a source ("paper", "peft", "literature", "plugin"), or method
    names; a comma-separated string or a list mixes them (each name once, first place kept)."""
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in filter(None, items):
        if item == "all":
            names += [m.name for m in list_methods()]
        elif item == "core":
            names += [get_method(n).name for n in CORE]
        elif item in SOURCES:
            names += [m.name for m in list_methods() if m.source == item]
        else:
            names.append(get_method(item).name)  # raises with the registered names and the sets
    if not names:
        raise ValueError(f"method set {spec!r} names no method; use 'all', 'core', a source "
                         f"({', '.join(SOURCES)}) or method names (`petl-bench methods`)")
    return list(dict.fromkeys(names))


def unregister(name: str) -> None:
    """Remove a method (for tests and interactive use)."""
    _REGISTRY.pop(name, None)
