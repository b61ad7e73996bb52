import sys
import textwrap

import pytest

from benchmark.plugins import registry
from benchmark.plugins.registry import Method, compose, get_method, list_methods, register_method


def head_only(backbone, name, owner) -> bool:
    """A ``trains`` declaration: nothing besides the head."""
    return False


def test_builtin_methods_are_discovered_with_descriptions():
    names = {m.name for m in list_methods()}
    assert {"feature_extraction", "finetune_last_block", "finetune_all"} <= names
    for m in list_methods():
        assert m.description and m.citation and m.bn_stats in registry.BN_POLICIES


def test_unknown_method_error_lists_registered():
    with pytest.raises(KeyError, match="feature_extraction"):
        get_method("no_such_method")


def test_register_rejects_duplicates_and_missing_metadata(clean_registry):
    @register_method(description="d", citation="c", trains=head_only)
    def my_method(backbone):
        pass

    assert get_method("my_method").apply is my_method
    with pytest.raises(ValueError, match="already registered"):
        register_method(name="my_method", description="d", citation="c", trains=head_only)(lambda backbone: None)
    with pytest.raises(ValueError, match="citation"):
        register_method(name="other", description="d", citation="", trains=head_only)(lambda backbone: None)


def test_a_method_must_declare_what_it_trains(clean_registry):
    """The error names the plugin's module and function, what to add, and the page to read."""
    with pytest.raises(TypeError, match=r"'undeclared' \(test_registry\.test_a_method_must_declare_what_it_trains"
                                        r"\.<locals>\.undeclared\) does not declare what it trains: add "
                                        r"trains=lambda backbone, name, owner: \.\.\. to its @register_method.*"
                                        r"docs/methods\.md"):
        @register_method(description="d", citation="c")
        def undeclared(backbone):
            pass

    with pytest.raises(TypeError, match="does not declare what it trains"):
        register_method(name="not_callable", description="d", citation="c", trains=True)(lambda backbone: None)
    assert "undeclared" not in registry._REGISTRY and "not_callable" not in registry._REGISTRY


def test_a_method_is_built_by_keyword():
    with pytest.raises(TypeError):
        Method("positional", lambda backbone: None, "d", "c", head_only)
    method = Method(name="kw", apply=lambda backbone: None, description="d", citation="c", trains=head_only)
    assert method.bn_stats == "frozen" and method.source == "plugin" and method.merge is None


def test_search_space_names_must_be_keyword_arguments(clean_registry):
    with pytest.raises(ValueError, match="rank"):
        @register_method(description="d", citation="c", trains=head_only, search_space={"rank": [1, 2]})
        def bad(backbone, alpha=1):
            pass


def test_defaults_come_from_the_signature(clean_registry):
    @register_method(description="d", citation="c", trains=head_only)
    def with_params(backbone, rank=8, alpha=16):
        pass

    assert get_method("with_params").defaults() == {"rank": 8, "alpha": 16}


def test_compose_applies_parts_in_order_and_merges_params(clean_registry):
    calls = []

    @register_method(description="a", citation="c", trains=head_only)
    def part_a(backbone, x=1):
        calls.append(("a", x))

    @register_method(description="b", citation="c", trains=head_only, bn_stats="train")
    def part_b(backbone, y=2):
        calls.append(("b", y))

    combined = compose("a_then_b", "part_a", "part_b", description="both", citation="c")
    assert combined.defaults() == {"x": 1, "y": 2}
    assert not combined.trains(None, "layer.weight", None)
    assert combined.bn_stats == "train" and combined.components == ("part_a", "part_b")
    combined.apply(None, x=5, y=7)
    assert calls == [("a", 5), ("b", 7)]


def test_plugin_from_an_entry_point_is_discovered(tmp_path, monkeypatch, clean_registry):
    """A third-party package registers a method through the entry-point group."""
    (tmp_path / "my_plugin.py").write_text(textwrap.dedent('''
        from benchmark.plugins.registry import register_method

        @register_method(description="plugin from an entry point", citation="test",
                         trains=lambda backbone, name, owner: name.startswith("conv_head."))
        def entry_point_method(backbone):
            pass
    '''))
    dist = tmp_path / "my_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\nmine = my_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.delitem(sys.modules, "my_plugin", raising=False)
    assert "entry_point_method" in {m.name for m in list_methods()}


def test_learning_rate_range_is_declared_and_checked(clean_registry):
    @register_method(description="d", citation="c", trains=head_only)
    def default_range(backbone):
        pass

    @register_method(description="d", citation="c", trains=head_only, lr=(1e-5, 1e-3))
    def small_range(backbone):
        pass

    assert get_method("default_range").lr == registry.DEFAULT_LR
    assert get_method("small_range").lr == (1e-5, 1e-3)
    assert get_method("small_range").default_lr == pytest.approx(1e-4)  # the geometric centre
    for bad in ((1e-3, 1e-5), (0.0, 1e-3), (1e-3,), (1e-3, 1e-3)):
        with pytest.raises(ValueError, match="lr must be"):
            register_method(name=f"bad_{len(registry._REGISTRY)}", description="d", citation="c",
                            trains=head_only, lr=bad)(lambda backbone: None)
    assert get_method("feature_extraction").lr == (1e-3, 1e-1)
    assert get_method("finetune_all").lr == (1e-5, 1e-3)


def test_compose_batch_norm_policy_train_then_eval_then_frozen(clean_registry):
    for name, policy in (("p_frozen", "frozen"), ("p_eval", "eval"), ("p_train", "train")):
        register_method(lambda backbone: None, name=name, description="d", citation="c", trains=head_only,
                        bn_stats=policy)
    assert compose("c1", "p_frozen", "p_eval", description="d", citation="c").bn_stats == "eval"
    assert compose("c2", "p_eval", "p_train", description="d", citation="c").bn_stats == "train"
    assert compose("c3", "p_frozen", "p_frozen", description="d", citation="c").bn_stats == "frozen"
    with pytest.raises(ValueError, match="bn_stats must be one of"):
        register_method(lambda backbone: None, name="p_bad", description="d", citation="c", trains=head_only,
                        bn_stats="batch")


def test_compose_takes_the_most_cautious_learning_rate_range(clean_registry):
    @register_method(description="a", citation="c", trains=head_only, lr=(1e-4, 1e-1))
    def wide(backbone):
        pass

    @register_method(description="b", citation="c", trains=head_only, lr=(1e-5, 1e-2))
    def narrow(backbone):
        pass

    assert compose("wide_narrow", "wide", "narrow", description="both", citation="c").lr == (1e-5, 1e-2)
    assert get_method("drs_finetune_all").lr == get_method("finetune_all").lr


def test_a_composition_trains_what_any_part_trains(clean_registry):
    register_method(lambda backbone: None, name="weights", description="d", citation="c",
                    trains=lambda backbone, name, owner: name.endswith(".weight"))
    register_method(lambda backbone: None, name="biases", description="d", citation="c",
                    trains=lambda backbone, name, owner: name.endswith(".bias"))
    both = compose("weights_and_biases", "weights", "biases", description="d", citation="c")
    assert [both.trains(None, n, None) for n in ("a.weight", "a.bias", "a.scale")] == [True, True, False]


def test_the_method_table_has_a_row_for_every_registered_method():
    from benchmark.plugins.method_table import COLUMNS, format_method_table, method_table

    rows = method_table()
    assert sorted(r["method"] for r in rows) == sorted(m.name for m in list_methods())
    assert all(tuple(r) == COLUMNS for r in rows)
    dora = next(r for r in rows if r["method"] == "dora")
    assert dora["source"] == "peft" and dora["identity_at_init"] and dora["merge_and_unload"]
    assert not next(r for r in rows if r["method"] == "lp_ft")["merge_and_unload"]
    assert [r["source"] for r in rows] == sorted((r["source"] for r in rows), key=registry.SOURCES.index)
    text = format_method_table(rows)
    assert text.splitlines()[0].split()[:3] == ["method", "source", "family"]
    assert all(f"\n{r['method']} " in text for r in rows) and get_method("dora").citation in text
