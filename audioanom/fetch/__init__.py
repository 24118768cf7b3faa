"""Downloading the data sets: resumable, verified, atomic.

Three layers, each usable on its own:

* :func:`download` fetches one URL into one file. It streams into ``<dest>.part``, resumes an
  existing ``.part`` with an HTTP ``Range`` request, retries with exponential backoff on
  connection errors, timeouts, HTTP 408/429/5xx and transfers cut short, checks size and
  checksum, and only then renames ``.part`` to ``dest`` (``os.replace``: atomic). So ``dest``
  exists only when it is complete.
* :func:`extract` unpacks a ``.zip`` or ``.tar.gz`` safely (no member may land outside the
  target folder, no links or device files) into a temporary sibling folder, moves the result
  into place and writes a ``.complete-<archive name>`` marker last, so an interrupted
  extraction never looks complete.
* :func:`fetch_dataset` reads the committed registry (``data/registry.json``, see
  :func:`audioanom.paths.registry_file`) and lays a data set out exactly as the loaders in
  :mod:`audioanom.datasets` read it:

  ==============  ===============================================  ======================
  name            layout under ``dest``                             default ``dest``
  ==============  ===============================================  ======================
  ``audiomnist``  ``data/NN/{digit}_{NN}_{take}.wav``,              ``<data>/audiomnist``
                  ``audioMNIST_meta.txt``
  ``fsdd``        ``recordings/{digit}_{speaker}_{take}.wav``,      ``<data>/fsdd``
                  ``metadata.py``
  ``dcase2020``   ``<type>/{train,test}/*.wav`` (DCASE 2020 Task 2  ``<data>/dcase2020``
                  development set)
  ==============  ===============================================  ======================

  GitHub data sets come either as one repository archive (``digit=None``) or, for one digit,
  file by file from ``raw.githubusercontent.com`` in a small thread pool. GitHub publishes no
  checksums, so archives are checked by counting the extracted files and single files by
  reading each one with :func:`audioanom.audio.read_audio`.

``base_url`` (or the environment variable ``AUDIOANOM_FETCH_BASE_URL``) replaces the scheme and
host of every registry URL, which points all downloads at a mirror or a test server.

Modules: :mod:`~audioanom.fetch.errors` (:class:`FetchError`),
:mod:`~audioanom.fetch.checksum` (digests), :mod:`~audioanom.fetch.transfer` (HTTP with resume
and retries, verification, atomic rename), :mod:`~audioanom.fetch.archives` (safe unpacking),
:mod:`~audioanom.fetch.registry` (the data-set registry and its URLs) and
:mod:`~audioanom.fetch.datasets` (:func:`fetch_dataset` and its per-source steps). Everything
public is re-exported here.

Nothing here touches the network on import.
"""

from .archives import extract
from .checksum import Checksum, file_checksum
from .datasets import BASE_URL_ENV, fetch_dataset
from .errors import FetchError
from .registry import digit_file_list, load_registry, rebase_url
from .transfer import CHUNK_BYTES, USER_AGENT, download

__all__ = [
    "BASE_URL_ENV",
    "CHUNK_BYTES",
    "USER_AGENT",
    "Checksum",
    "FetchError",
    "digit_file_list",
    "download",
    "extract",
    "fetch_dataset",
    "file_checksum",
    "load_registry",
    "rebase_url",
]
