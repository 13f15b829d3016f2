from fewshot_clce.cli import main


def test_datasets_lists_digits(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "novel" in out and "yes" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: fewshot-clce" in capsys.readouterr().out
