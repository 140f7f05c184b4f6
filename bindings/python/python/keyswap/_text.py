"""Incremental text decoding and line splitting for ``Response.iter_text`` / ``iter_lines``
(and their ``aiter_`` forms): Python's own codecs decode, as httpx does."""

from __future__ import annotations

import codecs
from typing import AsyncIterable, AsyncIterator, Iterable, Iterator


def _decoder(encoding: str) -> codecs.IncrementalDecoder:
    try:
        return codecs.getincrementaldecoder(encoding)(errors="replace")
    except LookupError:  # a charset Python does not know: UTF-8, as ``Response.text``
        return codecs.getincrementaldecoder("utf-8")(errors="replace")


def iter_text(chunks: Iterable[bytes], encoding: str) -> Iterator[str]:
    decoder = _decoder(encoding)
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


async def aiter_text(chunks: AsyncIterable[bytes], encoding: str) -> AsyncIterator[str]:
    decoder = _decoder(encoding)
    async for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


class _Lines:
    """Splits text arriving in pieces into lines, on ``\\n``, ``\\r\\n`` and ``\\r``; a ``\\r``
    at the end of a piece waits for the next one (it may be half of ``\\r\\n``)."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        text = self._buffer + text
        self._buffer = ""
        if text.endswith("\r"):
            text, self._buffer = text[:-1], "\r"
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith(("\n", "\r")):
            self._buffer = lines.pop() + self._buffer
        return [line.rstrip("\r\n") for line in lines]

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, ""
        return [rest.rstrip("\r\n")] if rest else []


def iter_lines(texts: Iterable[str]) -> Iterator[str]:
    lines = _Lines()
    for text in texts:
        yield from lines.feed(text)
    yield from lines.flush()


async def aiter_lines(texts: AsyncIterable[str]) -> AsyncIterator[str]:
    lines = _Lines()
    async for text in texts:
        for line in lines.feed(text):
            yield line
    for line in lines.flush():
        yield line
