"""A ``text/event-stream`` parser: HTML Living Standard §9.2 "Server-sent events".

Follows §9.2.6 "Interpreting an event stream" and §9.2.5 "Parsing an event stream":

* The stream is UTF-8 (decoding errors replaced with U+FFFD); one leading BOM is skipped.
* Lines end with CRLF, LF or CR — also when a CRLF pair is split between two chunks.
* A line starting with ``:`` is a comment (e.g. ``: keepalive``) and is ignored.
* ``field: value`` — one space after the colon is dropped; a line without a colon is a field
  with an empty value.  ``event`` sets the type, ``data`` appends ``value + LF`` to the data
  buffer (multi-line data), ``id`` sets the last event ID unless the value contains U+0000
  (``id:`` with an empty value *resets* it), ``retry`` (ASCII digits only) sets the
  reconnection time; any other field is ignored.
* A blank line dispatches: the last event ID string takes the buffer's value (also for an
  event that is then dropped); if the data buffer is empty nothing is dispatched; one trailing
  LF is removed from the data; the type defaults to ``message``.  Type and data buffers are
  reset, the last event ID buffer is not — an event without ``id:`` carries the previous one.
* An incomplete event at the end of the stream is discarded (a new parser per connection).

Pure: no I/O, no aiohttp.  Lines are capped at ``max_line`` characters (``ProtocolError``).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")
MAX_LINE = 64 * 1024


class ProtocolError(Exception):
    """The stream cannot be an event stream we accept (e.g. an endless line)."""


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event (§9.2.6: ``type``, ``data``, ``lastEventId``)."""

    type: str
    data: str
    last_event_id: str


class EventStreamParser:
    """Incremental parser: ``feed(bytes)`` returns the events completed by those bytes."""

    def __init__(self, *, max_line: int = MAX_LINE) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line = max_line
        self._pending = ""  # an unterminated line
        self._started = False  # BOM handled
        self._after_cr = False  # the last chunk ended in CR: a leading LF belongs to it
        self._type = ""
        self._data: list[str] = []
        self._id_buffer = ""
        #: §9.2.6 "last event ID string": what a reconnect sends as ``Last-Event-ID``.
        self.last_event_id = ""
        #: Reconnection time in ms from a ``retry:`` field, if the server sent one.
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._after_cr and text:
            self._after_cr = False
            if text[0] == "\n":
                text = text[1:]
        text = self._pending + text
        events: list[ServerSentEvent] = []
        start = 0
        for match in _LINE_END.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                self._after_cr = True  # maybe the first half of a CRLF split across chunks
            event = self._line(text[start:match.start()])
            if event is not None:
                events.append(event)
            start = match.end()
        self._pending = text[start:]
        if len(self._pending) > self._max_line:
            raise ProtocolError(f"event-stream line longer than {self._max_line} characters")
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if len(line) > self._max_line:
            raise ProtocolError(f"event-stream line longer than {self._max_line} characters")
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        self.last_event_id = self._id_buffer
        data, event_type = self._data, self._type or "message"
        self._data, self._type = [], ""
        if not data:
            return None
        return ServerSentEvent(type=event_type, data="\n".join(data), last_event_id=self.last_event_id)
