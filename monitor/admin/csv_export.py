"""The logs' CSV export: formula-safe cells, written in chunks and streamed (async under ASGI)."""
import csv

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest

CSV_CHUNK_ROWS = 500


class CSVEcho:
    """A write-only file for csv.writer that hands back what it was given."""

    def write(self, value: str) -> str:
        return value


def csv_safe(value):
    """The value as a CSV cell a spreadsheet will not run."""
    # A text cell starting like a formula would be run by a spreadsheet (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_chunks(rows):
    """Rows as CSV text, CSV_CHUNK_ROWS rows a chunk."""
    writer = csv.writer(CSVEcho())
    chunk = []
    for row in rows:
        chunk.append(writer.writerow([csv_safe(v) for v in row]))
        if len(chunk) >= CSV_CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def csv_streamed(chunks, request):
    """Chunks as the server streams them: under ASGI an async iterator, or Django would buffer the whole file."""
    if not isinstance(request, ASGIRequest):
        return chunks

    async def stream():
        # thread_sensitive keeps every read on the thread (and database connection) that started the query.
        next_chunk = sync_to_async(next, thread_sensitive=True)
        while (chunk := await next_chunk(chunks, None)) is not None:
            yield chunk

    return stream()
