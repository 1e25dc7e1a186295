"""One CLI vocabulary (issue 9 §7): one meaning per flag name, one shape parser, one set of backend
names, usage errors exit 2, every option documented and readable at 80 columns, completion on.

The commands are read from the Click objects Typer builds, so a flag added to a command without
going through edgeattn/cli/_options.py is checked too.
"""

import re
from collections import defaultdict
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edgeattn.cli import app
from edgeattn.cli._options import BACKEND_ALIASES, BACKEND_NAMES, InputSize, translate_renamed

runner = CliRunner()


def _group():  # type: ignore[no-untyped-def]
    return typer.main.get_command(app)


def _commands():  # type: ignore[no-untyped-def]
    return dict(_group().commands)


def _options(command):  # type: ignore[no-untyped-def]
    return [p for p in command.params if p.param_type_name == "option"]


def _kind(param) -> str:  # type: ignore[no-untyped-def]
    """What a value of the option is: its type (choices, parser) and whether it is a flag."""
    described = getattr(param, "type_descriptor", None)  # Typer that vendors Click
    if described is not None:
        parser = getattr(described.parameter_info, "parser", None)
        annotation = getattr(described.annotation, "__qualname__", repr(described.annotation))
        return f"{annotation}|{getattr(parser, '__qualname__', None)}|flag={param.is_flag}"
    choices = getattr(param.type, "choices", None)
    func = getattr(param.type, "func", None)
    return f"{choices or getattr(func, '__qualname__', None) or param.type.name}|flag={param.is_flag}"


def test_every_option_and_argument_of_every_command_has_help() -> None:
    missing = [
        f"{name} {p.opts[0]}"
        for name, command in _commands().items()
        for p in command.params
        if not (getattr(p, "help", None) or "").strip()
    ]
    assert not missing, f"options without help: {missing}"


def test_each_flag_name_has_one_meaning_across_commands() -> None:
    """The same long flag carries the same help text and takes the same kind of value in every
    command; a short flag stands for the same long flag everywhere (``-n`` was samples in
    validate, iterations in bench and the model name in triton)."""
    meanings = defaultdict(set)
    shorts = defaultdict(set)
    for command in _commands().values():
        for p in _options(command):
            longs = [o for o in p.opts + p.secondary_opts if o.startswith("--")]
            for flag in longs:
                meanings[flag].add((p.help, _kind(p)))
            for short in (o for o in p.opts + p.secondary_opts if not o.startswith("--")):
                shorts[short].add(tuple(longs))
    assert {f: m for f, m in meanings.items() if len(m) > 1} == {}
    assert {s: m for s, m in shorts.items() if len(m) > 1} == {}
    assert shorts["-n"] == {("--num-samples",)} and shorts["-b"] == {("--backend",)}
    # The subcommands' flags do not reuse the root's --version with another meaning.
    assert "--version" not in meanings


@pytest.mark.parametrize(
    "args",
    [
        ["models", "-a", "eca"],
        ["export", "se_resnet_tiny", "-o", "x.onnx", "--fold", "folded"],
        ["export", "se_resnet_tiny", "-o", "x.onnx", "--optimize-for", "gpu"],
        ["quantize", "m.onnx", "-o", "q.onnx", "-p", "int4"],
        ["quantize", "m.onnx", "-o", "q.onnx", "--target", "tpu"],
        ["quantize", "m.onnx", "-o", "q.onnx", "--calibration-method", "mse"],
        ["build", "m.onnx", "--precision", "bf16"],
        ["build", "m.onnx", "--hardware-compatibility", "any"],
        ["validate", "m.onnx", "--backend", "tf"],
        ["validate", "m.onnx", "--precision", "int4"],
        ["bench", "m.onnx", "-b", "ort,tf"],
        ["triton", "repo", "m.onnx", "--kind", "tpu"],
        ["triton", "repo", "m.onnx", "--triton-backend", "tf"],
    ],
)
def test_an_invalid_choice_is_a_usage_error_exit_2(args: list, tmp_path: Path) -> None:
    result = runner.invoke(app, args, prog_name="edgeattn")
    assert result.exit_code == 2, result.output
    assert f"Usage: edgeattn {args[0]} " in result.output and "Error: Invalid value for" in result.output
    assert "Traceback" not in result.output


def _long_flags(command) -> list:  # type: ignore[no-untyped-def]
    return [o for p in _options(command) if not p.hidden for o in p.opts + p.secondary_opts]


def test_help_at_80_columns_shows_every_flag_name_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for name, command in _commands().items():
        result = runner.invoke(app, [name, "--help"], prog_name="edgeattn")
        assert result.exit_code == 0, result.output
        for flag in _long_flags(command):
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", result.output), (name, flag)
        assert max(len(line) for line in result.output.splitlines()) <= 80, name
        assert "…" not in result.output, name


def _parse(command: str, args: list) -> dict:
    """The values Click hands the command, without running it."""
    cmd = _commands()[command]
    with cmd.make_context(command, list(args)) as ctx:
        return ctx.params


def test_the_backend_names_are_the_runtime_registrys() -> None:
    from edgeattn.runtime.selection import ALIASES, BACKENDS

    assert set(BACKEND_NAMES) == {"auto", *BACKENDS}
    assert BACKEND_ALIASES == ALIASES


@pytest.mark.parametrize("name", [*BACKEND_NAMES, *BACKEND_ALIASES, "ORT"])
def test_validate_takes_the_backend_names_bench_takes(name: str) -> None:
    canonical = BACKEND_ALIASES.get(name.lower(), name.lower())
    assert _parse("validate", ["m.onnx", "-b", name])["backend"] == (canonical,)
    assert _parse("bench", ["m.onnx", "-b", name])["backend"] == (canonical,)


def test_bench_compares_several_backends_validate_runs_one() -> None:
    assert _parse("bench", ["m.onnx", "-b", "ort, ov"])["backend"] == ("onnxruntime", "openvino")
    result = runner.invoke(app, ["validate", "m.onnx", "-b", "ort,ov"])
    assert result.exit_code == 2 and "expected one backend" in result.output


def test_the_shape_options_parse_the_same_way_in_every_command() -> None:
    with_shape = {name: c for name, c in _commands().items() if "--input-size" in _long_flags(c)}
    assert set(with_shape) == {"inspect", "export", "bench"}
    args = {"inspect": ["m"], "export": ["m", "-o", "x.onnx"], "bench": ["m"]}
    for name in with_shape:
        for text in ("3,64,48", "3x64x48", " 3, 64, 48 "):
            assert _parse(name, [*args[name], "--input-size", text])["input_size"] == InputSize(3, 64, 48)
        for bad in ("3,64", "1,3,64,48", "3,0,48", "a,b,c"):
            result = runner.invoke(app, [name, *args[name], "--input-size", bad])
            assert result.exit_code == 2, (name, bad, result.output)
            assert "expected C,H,W" in result.output


def test_old_spellings_work_with_a_note_or_are_refused_with_the_new_name() -> None:
    # export's --input-shape N,C,H,W: still works, as --input-size C,H,W --batch-size N.
    assert translate_renamed("export", ["m", "--input-shape", "2,3,64,48"], quiet=True) == [
        "m", "--batch-size", "2", "--input-size", "3,64,48"]
    assert translate_renamed("export", ["m", "--input-shape=1x3x8x8"], quiet=True) == [
        "m", "--batch-size", "1", "--input-size", "3,8,8"]
    params = _parse("export", ["m", "-o", "x.onnx", "--input-shape", "2,3,64,48", "--static-batch"])
    assert params["batch_size"] == 2 and params["input_size"] == InputSize(3, 64, 48)
    # After "--" nothing is an option.
    assert translate_renamed("bench", ["--", "-n"]) == ["--", "-n"]
    # bench -n was --iterations; -n is --num-samples now: refused, naming the new spelling.
    result = runner.invoke(app, ["bench", "m.onnx", "-n", "5"])
    assert result.exit_code == 2 and "--iterations" in result.output
    result = runner.invoke(app, ["bench", "m.onnx", "-n5"])
    assert result.exit_code == 2 and "--iterations" in result.output
    result = runner.invoke(app, ["bench", "--triton", "http://h:8000", "--model", "digits"])
    assert result.exit_code == 2 and "edgeattn bench --triton URL NAME" in result.output


def test_export_batch_size_needs_the_input_size() -> None:
    result = runner.invoke(app, ["export", "se_resnet_tiny", "-o", "x.onnx", "--batch-size", "4"])
    assert result.exit_code == 2 and "--input-size" in result.output


def test_completion_is_installable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SHELL", "/bin/bash")
    result = runner.invoke(app, ["--install-completion", "bash"], prog_name="edgeattn")
    assert result.exit_code == 0, result.output
    installed = "\n".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert "_EDGEATTN_COMPLETE=complete_bash" in installed


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("edgeattn val", {"validate"}),
        ("edgeattn export m --fold ", {"functions", "inline", "none"}),
        ("edgeattn validate m.onnx --backend o", {"onnxruntime", "openvino", "ort", "ov"}),
        ("edgeattn bench m.onnx -b ort,t", {"ort,tensorrt", "ort,torch", "ort,trt"}),
    ],
)
def test_completion_offers_commands_and_choices(words: str, expected: set) -> None:
    env = {"_EDGEATTN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    result = runner.invoke(app, [], prog_name="edgeattn", env=env)
    assert set(result.output.split()) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "m.onnx", "--atol", "logits=abc"],
        ["validate", "m.onnx", "--rtol", "-1"],
        ["build", "m.onnx", "--shapes", "input:1x3xQ"],
        ["build", "m.onnx", "--max-shapes", "1x3x8x8"],
        ["bench", "m.onnx", "--batch-sizes", "1,0"],
        ["bench", "m.onnx", "--iterations", "0"],
        ["triton", "repo", "m.onnx", "--preferred-batch", "4,x"],
    ],
)
def test_a_value_that_does_not_parse_is_a_usage_error_exit_2(args: list) -> None:
    result = runner.invoke(app, args, prog_name="edgeattn")
    assert result.exit_code == 2, result.output
    assert f"Usage: edgeattn {args[0]} " in result.output and "Error: Invalid value for" in result.output
