import pytest

from benchmark.common.profiles import ProfileError, builtin_profiles, load_profile


def test_builtin_profiles_load():
    assert {"smoke", "quick", "paper"} <= set(builtin_profiles())
    paper = load_profile("paper")
    assert paper.backbone.name == "resnet101" and paper.backbone.image_size == 224
    assert paper.train.batch_size == 24 and paper.train.patience == 20
    assert paper.search.lr == (0.001, 0.01, 0.1) and paper.search.beta1 == (0.85, 0.9, 0.95)
    assert paper.search.repeats == 3 and paper.train.lr_decay_factor == 0.9


def test_profile_from_a_user_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[train]\nmax_epochs = 3\n[evaluation]\nsplit_seeds = [4, 5]\n')
    profile = load_profile(path)
    assert profile.train.max_epochs == 3 and profile.evaluation.split_seeds == (4, 5)
    assert profile.train.batch_size == 24  # defaults fill the rest


@pytest.mark.parametrize("text,match", [
    ("[train]\nmax_epoch = 3\n", r"unknown key\(s\) \['max_epoch'\] in \[train\]"),
    ("[train]\nmax_epochs = 'x'\n", r"\[train\] max_epochs must be a non-negative integer"),
    ("[search]\nsampler = 'random'\n", r"sampler must be one of"),
    ("[train]\ninference_precision = 'half'\n", r"\[train\] inference_precision must be one of"),
    ("[trian]\n", r"unknown key\(s\) \['trian'\]"),
    ("[train\n", r"not valid TOML"),
])
def test_bad_profiles_name_the_file_and_key(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=match) as err:
        load_profile(path)
    assert "bad.toml" in str(err.value)


def test_unknown_profile_name_lists_builtins():
    with pytest.raises(ProfileError, match="smoke"):
        load_profile("nonexistent")


def test_builtin_profiles_evaluate_by_kfold_and_select_on_auc():
    smoke, quick, paper = (load_profile(n) for n in ("smoke", "quick", "paper"))
    assert (smoke.evaluation.scheme, smoke.evaluation.folds) == ("kfold", 2)
    assert (quick.evaluation.scheme, quick.evaluation.folds) == ("kfold", 5)
    assert smoke.search.sampler == quick.search.sampler == "tpe" and quick.search.selection == "auc"
    assert smoke.train.cache_prefix and quick.train.cache_prefix


def test_new_sections_keys(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[train]\ncache_prefix = false\n[search]\nsampler = "tpe"\nstartup_trials = 3\n'
                    'lr_range = [1e-5, 1e-2]\nselection = "accuracy"\n[evaluation]\nscheme = "kfold"\nfolds = 4\n'
                    'external = ["breast_lesions_usg"]\n')
    p = load_profile(path)
    assert p.train.cache_prefix is False and p.search.startup_trials == 3
    assert p.search.lr_range == (1e-5, 1e-2) and p.search.selection == "accuracy"
    assert (p.evaluation.scheme, p.evaluation.folds, p.evaluation.external) == ("kfold", 4, ("breast_lesions_usg",))
    defaults = load_profile(_write(tmp_path, 'name = "d"\n'))
    assert defaults.search.lr_range == () and defaults.search.selection == "auc"
    assert defaults.evaluation.scheme == "holdout" and defaults.evaluation.external == ()


def _write(tmp_path, text, name="x.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,match", [
    ("[train]\ncached_views = 8\n", r"unknown key\(s\) \['cached_views'\] in \[train\]"),  # the old key
    ("[search]\nselection = 'loss'\n", r"\[search\] selection must be one of \('auc', 'accuracy'\)"),
    ("[search]\nlr_range = [0.1, 0.01]\n", r"\[search\] lr_range must be \[low, high\] with 0 < low < high"),
    ("[search]\nlr_range = [0.1]\n", r"\[search\] lr_range must be \[low, high\]"),
    ("[evaluation]\nscheme = 'loo'\n", r"\[evaluation\] scheme must be one of \('kfold', 'holdout'\)"),
    ("[evaluation]\nscheme = 'kfold'\nfolds = 1\n", r"\[evaluation\] folds must be at least 2"),
])
def test_bad_new_keys_name_the_file_and_key(tmp_path, text, match):
    with pytest.raises(ProfileError, match=match) as err:
        load_profile(_write(tmp_path, text, "bad.toml"))
    assert "bad.toml" in str(err.value)


def test_training_dict_leaves_out_what_only_changes_reporting_or_speed():
    d = load_profile("quick").training_dict()
    assert not {"name", "description", "source"} & set(d)
    assert "parallel_trials" not in d["search"] and "n_trials" in d["search"] and "selection" in d["search"]
    assert "n_bootstrap" not in d["evaluation"] and "external" not in d["evaluation"]
    assert d["evaluation"]["folds"] == 5 and d["train"]["max_epochs"] == 10


def test_a_profile_starts_from_its_base(tmp_path):
    """repeats.toml is the quick profile with five split seeds; a user's file can start from any."""
    quick, repeats = load_profile("quick"), load_profile("repeats")
    assert repeats.name == "repeats" and repeats.evaluation.split_seeds == (0, 1, 2, 3, 4)
    assert (repeats.backbone, repeats.train, repeats.search) == (quick.backbone, quick.train, quick.search)
    assert repeats.evaluation.folds == quick.evaluation.folds and "5" in repeats.description
    (tmp_path / "mine.toml").write_text('base = "repeats"\n[search]\nseed = 3\n[evaluation]\nsplit_seeds = [7, 8]\n')
    mine = load_profile(tmp_path / "mine.toml")
    assert mine.name == "mine" and mine.search.seed == 3 and mine.search.n_trials == quick.search.n_trials
    assert mine.evaluation.split_seeds == (7, 8) and mine.description == ""
    (tmp_path / "loop.toml").write_text('base = "loop.toml"\n')
    with pytest.raises(ProfileError, match="loop.toml: base must name another profile"):
        load_profile(tmp_path / "loop.toml")
    (tmp_path / "nobase.toml").write_text('base = "nope"\n')
    with pytest.raises(ProfileError, match="no profile named 'nope'"):
        load_profile(tmp_path / "nobase.toml")
