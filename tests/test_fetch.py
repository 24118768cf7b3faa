"""audioanom.fetch against a local HTTP server (127.0.0.1, started here): no real network.

The server serves in-memory files and can be told, per path, to cut the first transfer after
N bytes, to corrupt the bytes, to ignore Range requests, or to answer with error statuses.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import soundfile as sf

from audioanom import fetch
from audioanom.datasets import load_audiomnist, load_dcase2020, load_fsdd
from audioanom.fetch import Checksum, FetchError, download, extract, fetch_dataset

FAST = {"retries": 3, "backoff": 0.01, "timeout": 5, "progress": False}


# --------------------------------------------------------------------------- test server


@dataclass
class Served:
    """One file on the test server and how to misbehave while serving it."""

    data: bytes
    cut_first_after: int | None = None  # first response stops after this many body bytes
    corrupt: bool = False  # flip one byte in every response
    ignore_range: bool = False  # answer 200 with the whole file to Range requests
    fail_with: list[int] = field(default_factory=list)  # statuses answered before success
    status: int | None = None  # always answer this status


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        rng = self.headers.get("Range")
        with self.server.lock:
            self.server.log.append((path, rng))
            spec = self.server.files.get(path)
            if spec is None:
                self.send_error(404)
                return
            if spec.status is not None:
                self.send_error(spec.status)
                return
            if spec.fail_with:
                self.send_error(spec.fail_with.pop(0))
                return
            cut, spec.cut_first_after = spec.cut_first_after, None
        data = spec.data
        if spec.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and not spec.ignore_range:
            start = int(m[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, Served] = {}
        self.log: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def requests_for(self, path: str) -> list[str | None]:
        """The Range header of every request made for ``path``, in order."""
        return [rng for p, rng in self.log if p == path]


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_env_base_url(monkeypatch):
    monkeypatch.delenv(fetch.BASE_URL_ENV, raising=False)


def payload(n: int = 200_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def wav_bytes(sr: int, seconds: float = 0.05, freq: float = 440.0) -> bytes:
    t = np.arange(int(sr * seconds)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV",
             subtype="PCM_16")  # fmt: skip
    return buf.getvalue()


# --------------------------------------------------------------------------- download


def test_download_verifies_and_skips_complete_file(server, tmp_path):
    data = payload()
    server.files["/a.bin"] = Served(data)
    dest = tmp_path / "sub" / "a.bin"
    out = download(server.url + "/a.bin", dest, size=len(data), checksum=sha256(data), **FAST)
    assert out == dest and dest.read_bytes() == data
    assert not dest.with_name("a.bin.part").exists()
    download(server.url + "/a.bin", dest, size=len(data), checksum=sha256(data), **FAST)
    assert len(server.requests_for("/a.bin")) == 1  # complete and matching: no new request


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    data = payload(300_000, seed=1)
    server.files["/big.bin"] = Served(data, cut_first_after=70_000)
    dest = tmp_path / "big.bin"
    download(server.url + "/big.bin", dest, checksum=sha256(data), **FAST)
    assert dest.read_bytes() == data
    ranges = server.requests_for("/big.bin")
    assert ranges[0] is None
    # resumed from the bytes kept on disk (a partly received last block may be dropped)
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", ranges[1])[1])
    assert 0 < resumed_at <= 70_000
    assert len(ranges) == 2


def test_existing_part_is_resumed(server, tmp_path):
    data = payload(50_000, seed=2)
    server.files["/p.bin"] = Served(data)
    dest = tmp_path / "p.bin"
    dest.with_name("p.bin.part").write_bytes(data[:12_345])
    download(server.url + "/p.bin", dest, size=len(data), checksum=sha256(data), **FAST)
    assert dest.read_bytes() == data
    assert server.requests_for("/p.bin") == ["bytes=12345-"]


def test_complete_part_without_size_is_finished_by_416(server, tmp_path):
    data = payload(30_000, seed=7)
    server.files["/done.bin"] = Served(data)
    dest = tmp_path / "done.bin"
    dest.with_name("done.bin.part").write_bytes(data)  # interrupted just before the rename
    download(server.url + "/done.bin", dest, checksum=sha256(data), **FAST)
    assert dest.read_bytes() == data
    assert server.requests_for("/done.bin") == ["bytes=30000-"]  # answered 416: nothing sent


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    data = payload(40_000, seed=3)
    server.files["/r.bin"] = Served(data, ignore_range=True)
    dest = tmp_path / "r.bin"
    dest.with_name("r.bin.part").write_bytes(b"stale bytes that must not stay")
    download(server.url + "/r.bin", dest, checksum=sha256(data), **FAST)
    assert dest.read_bytes() == data  # 200 to a Range request: the .part was rewritten


def test_checksum_mismatch_deletes_everything(server, tmp_path):
    data = payload(20_000, seed=4)
    server.files["/c.bin"] = Served(data, corrupt=True)
    dest = tmp_path / "c.bin"
    want = sha256(data)
    with pytest.raises(FetchError) as err:
        download(server.url + "/c.bin", dest, checksum=want, **FAST)
    msg = str(err.value)
    assert "checksum mismatch" in msg and server.url + "/c.bin" in msg and "c.bin" in msg
    assert want in msg and sha256(bytes([data[0] ^ 0xFF]) + data[1:]) in msg
    assert not dest.exists() and not dest.with_name("c.bin.part").exists()


def test_md5_checksum_accepted(server, tmp_path):
    data = payload(1000, seed=5)
    server.files["/m.bin"] = Served(data)
    md5 = "md5:" + hashlib.md5(data).hexdigest()
    assert download(server.url + "/m.bin", tmp_path / "m.bin", checksum=md5, **FAST).is_file()


def test_404_fails_at_once(server, tmp_path):
    dest = tmp_path / "missing.bin"
    with pytest.raises(FetchError, match="404") as err:
        download(server.url + "/missing.bin", dest, **FAST)
    assert server.url + "/missing.bin" in str(err.value)
    assert len(server.requests_for("/missing.bin")) == 1  # no retry loop
    assert not dest.exists()


def test_403_fails_at_once(server, tmp_path):
    server.files["/f.bin"] = Served(b"x", status=403)
    with pytest.raises(FetchError, match="403"):
        download(server.url + "/f.bin", tmp_path / "f.bin", **FAST)
    assert len(server.requests_for("/f.bin")) == 1


def test_5xx_is_retried_then_succeeds(server, tmp_path):
    data = payload(5000, seed=6)
    server.files["/s.bin"] = Served(data, fail_with=[500, 503])
    download(server.url + "/s.bin", tmp_path / "s.bin", checksum=sha256(data), **FAST)
    assert (tmp_path / "s.bin").read_bytes() == data
    assert len(server.requests_for("/s.bin")) == 3


def test_5xx_gives_up_after_retries(server, tmp_path):
    server.files["/down.bin"] = Served(b"x", status=502)
    with pytest.raises(FetchError, match=r"after 3 attempts.*502"):
        download(server.url + "/down.bin", tmp_path / "d.bin", **{**FAST, "retries": 2})
    assert len(server.requests_for("/down.bin")) == 3


def test_wrong_announced_size_is_an_error(server, tmp_path):
    server.files["/z.bin"] = Served(payload(100))
    with pytest.raises(FetchError, match="announces 100 bytes, expected 101"):
        download(server.url + "/z.bin", tmp_path / "z.bin", size=101, **FAST)
    assert not (tmp_path / "z.bin").exists()


def test_offline_message(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    with pytest.raises(FetchError, match=r"cannot reach 127\.0\.0\.1: no network connection\?"):
        download(f"http://127.0.0.1:{port}/x.zip", tmp_path / "x.zip", **{**FAST, "retries": 1})
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.parametrize(
    "bad", ["crc32:abcd", "md5:xyz", "sha256:" + "0" * 10, "d41d8cd98f00b204e9800998ecf8427e"]
)
def test_bad_checksum_string(bad):
    with pytest.raises(ValueError, match="checksum"):
        Checksum.parse(bad)


def test_rebase_url():
    url = "https://zenodo.org/records/3678171/files/dev_data_fan.zip?download=1"
    assert (
        fetch.rebase_url(url, "http://127.0.0.1:8000")
        == "http://127.0.0.1:8000/records/3678171/files/dev_data_fan.zip?download=1"
    )
    assert fetch.rebase_url(url, "http://mirror/pre/") == (
        "http://mirror/pre/records/3678171/files/dev_data_fan.zip?download=1"
    )
    assert fetch.rebase_url(url, None) == url
    with pytest.raises(ValueError, match="base_url"):
        fetch.rebase_url(url, "127.0.0.1:8000")


# --------------------------------------------------------------------------- extract


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


REPO = {
    "repo-abc/README.md": b"readme",
    "repo-abc/data/01/6_01_0.wav": b"one",
    "repo-abc/data/02/6_02_0.wav": b"two",
    "repo-abc/data/meta.txt": b"{}",
}


@pytest.mark.parametrize("maker,suffix", [(make_zip, ".zip"), (make_tar, ".tar.gz")])
def test_extract_strip_include_rename(tmp_path, maker, suffix):
    archive = maker(tmp_path / f"repo{suffix}", REPO)
    dest = tmp_path / "out"
    extract(archive, dest, strip_components=1, include=["data/"],
            rename={"data/meta.txt": "meta.txt"})  # fmt: skip
    assert (dest / "data/01/6_01_0.wav").read_bytes() == b"one"
    assert (dest / "data/02/6_02_0.wav").read_bytes() == b"two"
    assert (dest / "meta.txt").read_bytes() == b"{}"
    assert not (dest / "README.md").exists() and not (dest / "data/meta.txt").exists()
    assert (dest / f".complete-repo{suffix}").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging
    (dest / "data/01/6_01_0.wav").write_bytes(b"changed")
    extract(archive, dest, strip_components=1, include=["data/"])
    assert (dest / "data/01/6_01_0.wav").read_bytes() == b"changed"  # marker: not redone


@pytest.mark.parametrize(
    "maker,members,links",
    [
        (make_zip, {"ok.txt": b"1", "../evil.txt": b"x"}, None),
        (make_zip, {"ok.txt": b"1", "a/../../evil.txt": b"x"}, None),
        (make_tar, {"ok.txt": b"1", "../evil.txt": b"x"}, None),
        (make_tar, {"ok.txt": b"1", "/abs/evil.txt": b"x"}, None),
        (make_tar, {"ok.txt": b"1"}, {"link": "/etc/passwd"}),
    ],
)
def test_extract_rejects_unsafe_members(tmp_path, maker, members, links):
    suffix = ".zip" if maker is make_zip else ".tar.gz"
    archive = tmp_path / f"bad{suffix}"
    if links is None:
        maker(archive, members)
    else:
        maker(archive, members, links)
    dest = tmp_path / "out" / "here"
    with pytest.raises(FetchError, match="unsafe member"):
        extract(archive, dest)
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not (dest / "ok.txt").exists()  # nothing moved into place
    assert not (dest / f".complete-bad{suffix}").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["here"]  # staging removed


def test_extract_corrupt_archive_leaves_nothing_complete(tmp_path):
    archive = make_zip(tmp_path / "c.zip", {"a/x.bin": payload(50_000)})
    archive.write_bytes(archive.read_bytes()[:-2000])  # cut short, like an interrupted copy
    with pytest.raises(FetchError, match="cannot extract"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / ".complete-c.zip").exists()
    assert not (tmp_path / "out" / "a").exists()


def test_extract_unknown_type(tmp_path):
    (tmp_path / "x.rar").write_bytes(b"")
    with pytest.raises(ValueError, match="not a .zip"):
        extract(tmp_path / "x.rar", tmp_path / "out")


# --------------------------------------------------------------------------- fetch_dataset


def dcase_zip(path: Path, mt: str = "fan") -> bytes:
    wav = wav_bytes(16000)
    make_zip(path, {
        f"{mt}/train/normal_id_00_00000000.wav": wav,
        f"{mt}/train/normal_id_00_00000001.wav": wav,
        f"{mt}/test/normal_id_00_00000000.wav": wav,
        f"{mt}/test/anomaly_id_00_00000000.wav": wav_bytes(16000, freq=900.0),
    })  # fmt: skip
    return path.read_bytes()


def dcase_registry(data: bytes) -> dict:
    zen = "https://zenodo.org/records/3678171/files/{}?download=1"
    return {
        "datasets": {
            "dcase2020": {
                "folder": "dcase2020",
                "default_machine_types": ["fan"],
                "machine_types": {
                    "fan": {
                        "filename": "dev_data_fan.zip",
                        "url": zen.format("dev_data_fan.zip"),
                        "size": len(data),
                        "checksum": "md5:" + hashlib.md5(data).hexdigest(),
                    },
                    "pump": {
                        "filename": "dev_data_pump.zip",
                        "url": zen.format("dev_data_pump.zip"),
                    },
                },
            }
        }
    }


def test_fetch_dcase_end_to_end(server, tmp_path):
    data = dcase_zip(tmp_path / "dev_data_fan.zip")
    server.files["/records/3678171/files/dev_data_fan.zip"] = Served(data, cut_first_after=999)
    reg = dcase_registry(data)
    dest = tmp_path / "dcase2020"
    out = fetch_dataset("dcase2020", dest, base_url=server.url, registry=reg, **FAST)
    assert out == dest
    loaded = load_dcase2020(dest)
    assert len(loaded.clips) == 4 and not loaded.unparsed
    assert sorted(loaded.clips["label"]) == ["anomaly", "normal", "normal", "normal"]
    assert (dest / ".complete-dev_data_fan.zip").is_file()
    assert not (dest / ".downloads").exists()  # archive removed after unpacking
    n_requests = len(server.log)
    fetch_dataset("dcase2020", dest, base_url=server.url, registry=reg, **FAST)
    assert len(server.log) == n_requests  # marker present: nothing fetched again


def test_fetch_dcase_bad_checksum_and_unknown_type(server, tmp_path):
    data = dcase_zip(tmp_path / "dev_data_fan.zip")
    server.files["/records/3678171/files/dev_data_fan.zip"] = Served(data, corrupt=True)
    reg = dcase_registry(data)
    dest = tmp_path / "dcase2020"
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_dataset("dcase2020", dest, base_url=server.url, registry=reg, **FAST)
    assert not (dest / "fan").exists()
    with pytest.raises(ValueError, match="drill.*valid: fan, pump"):
        fetch_dataset("dcase2020", dest, machine_types=["drill"], registry=reg, **FAST)
    with pytest.raises(ValueError, match="digit"):
        fetch_dataset("dcase2020", dest, digit=3, registry=reg, **FAST)
    with pytest.raises(ValueError, match="unknown data set 'esc50'.*known: dcase2020"):
        fetch_dataset("esc50", dest, registry=reg, **FAST)
    with pytest.raises(ValueError, match="unknown data set 'mimii'"):  # one name: dcase2020
        fetch_dataset("mimii", dest, registry=reg, **FAST)


FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"


def fsdd_registry(speakers=("george", "jackson"), takes=2) -> dict:
    return {
        "datasets": {
            "fsdd": {
                "folder": "fsdd",
                "sample_rate": 8000,
                "digits": list(range(10)),
                "files": {
                    "base_url": "https://raw.githubusercontent.com/Jakobovski/"
                    f"free-spoken-digit-dataset/{FSDD_COMMIT}/",
                    "pattern": "recordings/{digit}_{speaker}_{take}.wav",
                    "speakers": list(speakers),
                    "takes": takes,
                    "extra": {"metadata.py": "metadata.py"},
                },
            }
        }
    }


def serve_fsdd(server, digit: int, bad: str | None = None) -> None:
    prefix = f"/Jakobovski/free-spoken-digit-dataset/{FSDD_COMMIT}/"
    server.files[prefix + "metadata.py"] = Served(
        b"metadata = {'george': {'gender': 'male', 'accent': 'GRC/Greek'}}\n"
    )
    for speaker in ("george", "jackson"):
        for take in range(2):
            name = f"{digit}_{speaker}_{take}.wav"
            data = b"not audio at all" if name == bad else wav_bytes(8000, freq=300 + take)
            server.files[prefix + "recordings/" + name] = Served(data)


def test_fetch_fsdd_one_digit_per_file(server, tmp_path, monkeypatch):
    serve_fsdd(server, digit=3)
    monkeypatch.setenv(fetch.BASE_URL_ENV, server.url)  # the env var points URLs at the server
    dest = tmp_path / "fsdd"
    fetch_dataset("fsdd", dest, digit=3, registry=fsdd_registry(), workers=2, **FAST)
    wavs = sorted(p.name for p in (dest / "recordings").glob("*.wav"))
    assert wavs == ["3_george_0.wav", "3_george_1.wav", "3_jackson_0.wav", "3_jackson_1.wav"]
    assert (dest / "metadata.py").is_file()
    loaded = load_fsdd(dest, normal_digit=3)
    assert len(loaded.clips) == 4 and set(loaded.clips["label"]) == {"normal"}
    n_requests = len(server.log)
    monkeypatch.setenv("AUDIOANOM_DATA", str(tmp_path))  # default dest: <data>/<folder>
    assert fetch_dataset("fsdd", digit=3, registry=fsdd_registry(), workers=2, **FAST) == dest
    assert len(server.log) == n_requests  # every file present and readable: no request


def test_fetch_fsdd_file_that_does_not_read_is_named(server, tmp_path):
    serve_fsdd(server, digit=5, bad="5_jackson_1.wav")
    dest = tmp_path / "fsdd"
    with pytest.raises(FetchError, match="5_jackson_1.wav.*does not read as audio"):
        fetch_dataset("fsdd", dest, digit=5, base_url=server.url, registry=fsdd_registry(),
                      workers=1, **FAST)  # fmt: skip
    assert not (dest / "recordings" / "5_jackson_1.wav").exists()


def test_fetch_digit_validation():
    reg = fsdd_registry()
    for bad in (10, -1, "6", True, 2.0):
        with pytest.raises(ValueError, match=r"digit must be one of \[0, 1, 2"):
            fetch_dataset("fsdd", "/nonexistent", digit=bad, registry=reg, **FAST)
    with pytest.raises(ValueError, match="machine_types applies to dcase2020"):
        fetch_dataset("fsdd", "/nonexistent", machine_types=["fan"], registry=reg, **FAST)


def audiomnist_registry(count: int) -> dict:
    commit = "0" * 40
    return {
        "datasets": {
            "audiomnist": {
                "commit": commit,
                "archive": {
                    "url": f"https://codeload.github.com/soerenab/AudioMNIST/tar.gz/{commit}",
                    "filename": "AudioMNIST-test.tar.gz",
                    "size": None,
                    "checksum": None,
                    "strip_components": 1,
                    "include": ["data/"],
                    "rename": {"data/audioMNIST_meta.txt": "audioMNIST_meta.txt"},
                    "expect": {"glob": "data/*/*.wav", "count": count},
                },
            }
        }
    }


def test_fetch_archive_mode_layout(server, tmp_path):
    meta = {"01": {"age": "30", "gender": "male"}, "02": {"age": "25", "gender": "female"}}
    archive = make_tar(tmp_path / "a.tar.gz", {
        "AudioMNIST-000/README.md": b"readme",
        "AudioMNIST-000/data/01/6_01_0.wav": wav_bytes(48000),
        "AudioMNIST-000/data/02/6_02_0.wav": wav_bytes(48000),
        "AudioMNIST-000/data/audioMNIST_meta.txt": json.dumps(meta).encode(),
    })  # fmt: skip
    server.files["/soerenab/AudioMNIST/tar.gz/" + "0" * 40] = Served(archive.read_bytes())
    dest = tmp_path / "audiomnist"
    fetch_dataset("audiomnist", dest, base_url=server.url, registry=audiomnist_registry(2),
                  **FAST)  # fmt: skip
    assert (dest / "audioMNIST_meta.txt").is_file() and not (dest / "README.md").exists()
    loaded = load_audiomnist(dest)
    assert len(loaded.clips) == 2 and sorted(loaded.clips["id"]) == ["01", "02"]

    with pytest.raises(FetchError, match="2 files match.*expected 3"):
        fetch_dataset("audiomnist", tmp_path / "other", base_url=server.url,
                      registry=audiomnist_registry(3), **FAST)  # fmt: skip
    assert not (tmp_path / "other" / ".complete-AudioMNIST-test.tar.gz").exists()


# --------------------------------------------------------------------------- real registry


def test_real_registry_has_what_the_cli_promises():
    doc = fetch.load_registry()
    ds = doc["datasets"]
    assert {"audiomnist", "fsdd", "dcase2020"} <= set(ds) and "mimii" not in ds
    hex40 = re.compile(r"^[0-9a-f]{40}$")
    for name, repo in (("audiomnist", "soerenab/AudioMNIST"),
                       ("fsdd", "Jakobovski/free-spoken-digit-dataset")):  # fmt: skip
        entry = ds[name]
        assert hex40.match(entry["commit"]), name
        commit = entry["commit"]
        assert entry["archive"]["url"] == f"https://codeload.github.com/{repo}/tar.gz/{commit}"
        assert entry["files"]["base_url"] == (f"https://raw.githubusercontent.com/{repo}/{commit}/")
        assert entry["archive"]["checksum"] is None and "verify" in entry["archive"]
    assert ds["fsdd"]["commit"].startswith("26eb9aa")
    assert len(fetch.digit_file_list(ds["audiomnist"], 6)) == 3000 + 1
    assert fetch.digit_file_list(ds["audiomnist"], 6)[1] == (
        "data/01/6_01_0.wav",
        "data/01/6_01_0.wav",
    )
    assert len(fetch.digit_file_list(ds["fsdd"], 6)) == 300 + 1
    assert ds["audiomnist"]["archive"]["expect"]["count"] == 30000
    assert ds["fsdd"]["archive"]["expect"]["count"] == 3000

    dcase = ds["dcase2020"]
    assert dcase["default_machine_types"] == ["fan", "pump", "slider", "valve"]
    assert set(dcase["machine_types"]) == {"fan", "pump", "slider", "valve", "ToyCar",
                                           "ToyConveyor"}  # fmt: skip
    assert dcase["folder"] == "dcase2020"  # where find_dataset_root('dcase2020') looks
    for mt, item in dcase["machine_types"].items():
        assert item["filename"] == f"dev_data_{mt}.zip"
        assert item["url"] == (
            f"https://zenodo.org/records/3678171/files/dev_data_{mt}.zip?download=1"
        )
        if item["checksum"] is not None:
            assert Checksum.parse(item["checksum"]).algorithm == "md5"
        assert item["size"] is None or item["size"] > 500_000_000
