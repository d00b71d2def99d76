"""Logging: one JSON object per line for machines, or plain text for people (``--log-format``).

Structured fields travel in one ``extra={"fields": {...}}`` dict, so they can never clash with LogRecord's own
attributes (``name``, ``msg``...).

The per-request line is the exception to going through ``logging``: a LogRecord, its formatting and a flush per
line cost about as much as the admission itself, so in JSON mode :class:`RequestLog` builds the same lines itself
and writes them in batches, flushed every :data:`FLUSH_SECONDS` and at shutdown.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any, BinaryIO, TextIO

import orjson

FLUSH_SECONDS = 0.2
FLUSH_BYTES = 64 * 1024
_TS_OPEN = b'{"ts":"'  # how every line starts (json_line puts the timestamp first)


@functools.lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    # strftime once a second, not once a line: the request log writes thousands a second.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def timestamp(created: float) -> str:
    return _millisecond(int(created * 1000))


def _millisecond(millis: int) -> str:
    seconds, millis = divmod(millis, 1000)
    return f"{_second(seconds)}.{millis:03d}Z"


def json_line(ts: str, level: str, logger: str, msg: str, fields: dict[str, Any]) -> str:
    entry = {"ts": ts, "level": level, "logger": logger, "msg": msg}
    entry.update(fields)
    return orjson.dumps(entry, default=str).decode()


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "fields", {}))
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return json_line(timestamp(record.created), record.levelname.lower(), record.name, record.getMessage(), fields)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        return text + "".join(f" {k}={v}" for k, v in fields.items()) if fields else text


def config(level: str, fmt: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for our loggers and uvicorn's (uvicorn applies it in every worker)."""
    formatter = "webhook.serve.logs.JSONFormatter" if fmt == "json" else "webhook.serve.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}},
        "loggers": {
            "webhook": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


def _effective_handlers(logger: logging.Logger) -> list[logging.Handler]:
    """The handlers a record from ``logger`` reaches, walking up the hierarchy as ``logging`` does."""
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        found += current.handlers
        current = current.parent if current.propagate else None
    return found


class RequestLog:
    """The one-line-per-request log, configured by whatever the ``logging`` config says for ``logger``.

    Where that is our JSON format on a plain stream, each line is built as bytes in one step: its start (timestamp,
    level, logger and message, made once per millisecond), then the fields as orjson writes them; the lines go to
    the stream's binary buffer in batches.
    """

    def __init__(self, logger: logging.Logger, msg: str) -> None:
        self.logger = logger
        self.msg = msg
        self.enabled = logger.isEnabledFor(logging.INFO)
        handlers = _effective_handlers(logger)
        self.stream: TextIO | None = None
        self.buffer: BinaryIO | None = None
        if len(handlers) == 1 and isinstance(handlers[0], logging.StreamHandler) and isinstance(
                handlers[0].formatter, JSONFormatter):
            self.stream = handlers[0].stream
            self.buffer = getattr(self.stream, "buffer", None)
        # The line JSONFormatter writes, without fields, cut around its timestamp: each request adds only those.
        template = json_line("", "info", logger.name, msg, {}).encode()
        self._head = template[len(_TS_OPEN):-1] + b","
        self._lines: list[bytes] = []
        self._size = 0
        self._millis = -1
        self._start = b""  # the lines' start up to their first field, for the millisecond self._millis

    def write(self, fields: dict[str, Any]) -> None:
        """Log one request; ``fields`` must not be empty."""
        if self.buffer is None:
            self.logger.info(self.msg, extra={"fields": fields})
            return
        millis = int(time.time() * 1000)
        if millis != self._millis:  # at thousands of lines a second, most lines share their millisecond's start
            self._millis = millis
            self._start = _TS_OPEN + _millisecond(millis).encode() + self._head
        line = self._start + orjson.dumps(fields, default=str, option=orjson.OPT_APPEND_NEWLINE)[1:]  # after "{"
        self._lines.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._lines and self.stream is not None and self.buffer is not None:
            lines, self._lines, self._size = self._lines, [], 0
            try:
                self.stream.flush()  # whatever other loggers wrote through the text layer goes first
                self.buffer.write(b"".join(lines))
                self.buffer.flush()
            except (OSError, ValueError):  # stream closed or broken: logs must never fail a request
                pass

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                self.flush()
        finally:
            self.flush()
