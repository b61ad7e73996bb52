"""Method sets: the names a profile or --methods gives ("all", "core", a source, method names),
and what `petl-bench methods` shows of each method (family and source)."""
from __future__ import annotations

import json

import pytest

from benchmark.cli import main
from benchmark.common.profiles import ProfileError, load_profile
from benchmark.plugins.registry import CORE, SOURCES, get_method, list_methods, method_set
from benchmark.training.suite import resolve_methods

NEW = ("dora", "loha", "lokr", "ia3", "oft", "bn_tuning_peft", "lp_ft", "l2_sp", "conv_adapter", "wise_ft")


def test_sets_name_every_core_and_source_method():
    assert method_set("all") == [m.name for m in list_methods()]
    assert method_set("core") == list(CORE) and len(CORE) == 8
    assert {m.source for m in list_methods()} <= set(SOURCES)
    assert set(method_set("peft")) == {"lora", "dora", "loha", "lokr", "ia3", "oft", "bn_tuning_peft"}
    assert set(method_set("literature")) >= {"lp_ft", "l2_sp", "conv_adapter", "wise_ft", "bitfit", "ssf"}
    assert set(method_set("paper")) == {m for m in CORE if m not in ("lora", "bitfit")} | {"drs_spatial", "drs_channel"}
    # mixed, each once, first place kept
    assert method_set("lora, core,ssf") == ["lora"] + [m for m in CORE if m != "lora"] + ["ssf"]
    assert all(get_method(n).family for n in NEW)


def test_an_unknown_name_says_what_exists():
    with pytest.raises(KeyError, match="sets: all, core, paper"):
        method_set("core,nope")
    with pytest.raises(ValueError, match="names no method"):
        method_set(" , ")


def test_profiles_name_their_methods():
    quick = resolve_methods(None, load_profile("quick").methods)
    assert len(quick) == 12 and not set(quick) & set(NEW), "the quick profile keeps its twelve methods"
    assert set(resolve_methods(None, load_profile("all_methods").methods)) == {m.name for m in list_methods()}
    assert resolve_methods("lp_ft,wise_ft", load_profile("quick").methods) == ["lp_ft", "wise_ft"]
    # which methods run decides no study: the search fingerprint leaves them out
    assert "methods" not in load_profile("quick").training_dict()
    assert load_profile("quick").training_dict() == load_profile("all_methods").training_dict()


def test_a_bad_methods_key_names_the_file(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('base = "smoke"\nmethods = []\n')
    with pytest.raises(ProfileError, match="p.toml: methods must be a non-empty list"):
        load_profile(path)
    path.write_text('base = "smoke"\nmethods = "core"\n')
    assert load_profile(path).methods == ("core",)


def test_methods_command_shows_family_and_source(capsys):
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["method", "family", "source"]
    row = next(line for line in lines if line.startswith("ia3 "))
    assert row.split()[1:3] == ["scaling", "peft"]
    assert main(["methods", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(NEW) <= set(listed)
    assert (listed["lp_ft"]["family"], listed["lp_ft"]["source"]) == ("fine-tuning", "literature")
    assert listed["oft"]["mergeable"] and not listed["l2_sp"]["mergeable"]
