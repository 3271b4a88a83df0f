"""A local HTTP server on 127.0.0.1 for download tests (no internet needed)."""

import contextlib
import functools
import http.server
import threading


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
  truncate = set()  # Paths served with a Content-Length larger than the body.
  cut = set()  # Paths whose body is cut in half, without a Content-Length.

  def log_message(self, *args):
    pass

  def do_GET(self):
    path = self.path.lstrip('/')
    if path in self.truncate:
      body = open(self.translate_path(self.path), 'rb').read()
      self.send_response(200)
      self.send_header('Content-Length', str(len(body) * 2))
      self.end_headers()
      self.wfile.write(body)
      self.wfile.flush()
      self.close_connection = True
      return
    if path in self.cut:
      body = open(self.translate_path(self.path), 'rb').read()
      # HTTP/1.0 without Content-Length: the body ends where the connection
      # closes, so the client cannot tell a cut-off body from a whole one.
      self.send_response(200)
      self.end_headers()
      self.wfile.write(body[:len(body) // 2])
      self.wfile.flush()
      self.close_connection = True
      return
    super().do_GET()


@contextlib.contextmanager
def serve_directory(directory, truncate=(), cut=()):
  """Serves `directory`; yields the base URL ('http://127.0.0.1:PORT/').

  Files named in `truncate` announce twice their size and then close the
  connection, like a download cut off halfway. Files named in `cut` send
  their first half with no Content-Length and close the connection, like a
  proxy dropping a download the client has no way to check by size.
  """
  handler = type('Handler', (_QuietHandler,), {'truncate': set(truncate),
                                               'cut': set(cut)})
  server = http.server.ThreadingHTTPServer(
      ('127.0.0.1', 0), functools.partial(handler, directory=str(directory)))
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f'http://127.0.0.1:{server.server_address[1]}/'
  finally:
    server.shutdown()
    server.server_close()
