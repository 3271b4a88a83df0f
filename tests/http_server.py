"""A local HTTP server on 127.0.0.1 for download tests (no internet needed)."""

import contextlib
import functools
import http.server
import threading


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
  truncate = set()  # Paths served with a Content-Length larger than the body.

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
    super().do_GET()


@contextlib.contextmanager
def serve_directory(directory, truncate=()):
  """Serves `directory`; yields the base URL ('http://127.0.0.1:PORT/').

  Files named in `truncate` announce twice their size and then close the
  connection, like a download cut off halfway.
  """
  handler = type('Handler', (_QuietHandler,), {'truncate': set(truncate)})
  server = http.server.ThreadingHTTPServer(
      ('127.0.0.1', 0), functools.partial(handler, directory=str(directory)))
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f'http://127.0.0.1:{server.server_address[1]}/'
  finally:
    server.shutdown()
    server.server_close()
