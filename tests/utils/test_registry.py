import pytest

from fewshot_clce.utils.registry import Registry, UnknownNameError


def test_register_create_list():
    reg = Registry("widget")

    @reg.register("b", colour="blue")
    def make_b(x=1):
        return ("b", x)

    reg.register("a", lambda: "a")
    assert reg.list() == ["a", "b"]
    assert reg.create("b", x=3) == ("b", 3)
    assert reg.meta("b") == {"colour": "blue"}
    assert "a" in reg and "c" not in reg


def test_duplicate_refused():
    reg = Registry("widget")
    reg.register("a", lambda: 1)
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a", lambda: 2)
    assert reg.create("a") == 1


def test_unknown_lists_valid_names():
    reg = Registry("widget")
    reg.register("alpha", lambda: 1)
    reg.register("beta", lambda: 2)
    with pytest.raises(UnknownNameError) as e:
        reg.create("gamma")
    assert str(e.value) == "unknown widget 'gamma'; valid names: alpha, beta"
