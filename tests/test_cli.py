from fewshot_clce.cli import main


def test_datasets_lists_digits(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "novel" in out and "yes" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: fewshot-clce" in capsys.readouterr().out


def test_datasets_says_where_missing_data_belongs(capsys, tmp_path):
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"Not found under {tmp_path}:" in out
    assert "  cifar-fs: expected under --root: cifar-100-python/" in out
    assert "glyphs" not in out.split("Not found")[1]  # embedded datasets are always here
