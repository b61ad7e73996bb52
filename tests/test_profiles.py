import pytest

from benchmark.profiles import ProfileError, builtin_profiles, load_profile


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
