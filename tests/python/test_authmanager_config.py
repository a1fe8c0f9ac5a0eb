"""teeu-authmanager configuration: key=value and JSON config files, flags
overriding the file, clear refusals of bad settings, SIGINT shutdown."""
import json
import signal
import subprocess

import pytest

import authmanager_support as ams


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return ams.generate_stubs(tmp_path_factory.mktemp("stubs"))


def run_bad(tool, *args):
    p = subprocess.run([str(tool("teeu-authmanager")), *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    return p.stderr


def test_key_value_config_file(pb, tool, tmp_path):
    cfg = tmp_path / "am.conf"
    cfg.write_text(f"# local test\nlisten = 127.0.0.1:0\nstate = {tmp_path / 'state'}\nsimulation = true\n"
                   "workers = 2\nlog-level = debug\n")
    d = ams.Daemon(tool("teeu-authmanager"), tmp_path / "x", ["--config", str(cfg)], argv=[]).start()
    try:
        c = ams.Client(pb, d.address)
        c.am_key()
        c.close()
        assert (tmp_path / "state" / "authmanager.db").exists()
        assert (tmp_path / "state" / "authmanager_key.pem").stat().st_mode & 0o077 == 0
    finally:
        d.proc.send_signal(signal.SIGINT)
        assert d.proc.wait(30) == 0
        d.stop()
    assert "GetRaCertPems" in d.log()


def test_json_config_file_and_flag_override(pb, tool, tmp_path):
    cfg = tmp_path / "am.json"
    cfg.write_text(json.dumps({"listen": "127.0.0.1:1", "state": str(tmp_path / "state"), "simulation": True,
                               "max-message": 65536, "log-level": "warn"}))
    # --listen on the command line wins over the file's port 1
    d = ams.Daemon(tool("teeu-authmanager"), tmp_path / "x", ["--config", str(cfg), "--listen", "127.0.0.1:0"],
                   argv=[]).start()
    try:
        assert d.port != 1
        c = ams.Client(pb, d.address)
        c.am_key()
        c.close()
    finally:
        assert d.stop() == 0
    assert "GetRaCertPems" not in d.log()  # log-level warn: successful calls are not logged


def test_bad_settings_refused(tool, tmp_path):
    assert "unknown setting 'colour'" in run_bad(tool, "--config", str(_write(tmp_path / "a.conf", "colour = red\n")))
    assert "a.conf:2" in run_bad(tool, "--config", str(_write(tmp_path / "a.conf", "simulation = 1\nworkers = many\n")))
    assert "not HOST:PORT" in run_bad(tool, "--simulation", "--listen", "8835")
    assert "log-level" in run_bad(tool, "--simulation", "--log-level", "chatty")
    assert "unknown or incomplete option" in run_bad(tool, "--frobnicate")
    assert "JSON" in run_bad(tool, "--config", str(_write(tmp_path / "b.json", "{\"listen\": ")))


def test_help(tool):
    p = subprocess.run([str(tool("teeu-authmanager")), "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "--sim-authority" in p.stdout


def _write(path, text):
    path.write_text(text)
    return path


def _key_primes(path):
    p = subprocess.run(["openssl", "pkey", "-in", str(path), "-text", "-noout"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    assert "3072 bit" in first, first
    return int(first.split(",")[1].split()[0])


def test_service_key_primes(pb, tool, tmp_path):
    """A new service key has 2 primes unless --key-primes 3; an existing key is kept as it is."""
    for extra, want in (([], 2), (["--key-primes", "3"], 3)):
        state = tmp_path / f"state{want}"
        d = ams.Daemon(tool("teeu-authmanager"), state, ["--simulation", *extra]).start()
        try:
            c = ams.Client(pb, d.address)
            c.am_key()
            c.close()
        finally:
            assert d.stop() == 0
        assert f"service key ({want} primes)" in d.log()
        assert _key_primes(state / "authmanager_key.pem") == want
    # Restarting with another setting does not replace the key (data keys are sealed to it).
    d = ams.Daemon(tool("teeu-authmanager"), tmp_path / "state3", ["--simulation"]).start()
    assert d.stop() == 0
    assert _key_primes(tmp_path / "state3" / "authmanager_key.pem") == 3
    assert "key-primes" in run_bad(tool, "--simulation", "--key-primes", "4")
    assert "key-primes" in run_bad(tool, "--config", str(_write(tmp_path / "k.conf", "key-primes = 1\n")))
