"""`blueprint serve` refuses bad options with a clear message before it loads a model or listens."""

import socket

import pytest

from blueprint.cli import main


@pytest.mark.parametrize("args,message", [
    (["--port", "70000"], "--port must be in 0..65535"),
    (["--batch-wait-ms", "-1"], "--batch-wait-ms must be >= 0"),
    (["--max-queue", "0"], "--max-queue must be >= 1"),
    (["--dit-batch", "0"], "--dit-batch must be >= 1"),
    (["--timeout", "0"], "--timeout must be > 0"),
])
def test_bad_options_are_refused(args, message, capsys):
    assert main(["serve", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_port_in_use_is_a_clear_error(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--host", "127.0.0.1", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_a_missing_model_folder_is_refused_before_serving(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "absent"), "--port", "0"]) == 2
    assert "does not exist" in capsys.readouterr().err
