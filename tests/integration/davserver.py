"""Origins for the WebDAV, Subversion and WebSocket tests (test_webdav.py).

- Apache: a private Apache httpd (apache2-bin's /usr/sbin/apache2, never the system
  service) with mod_dav, mod_dav_fs and mod_dav_svn on 127.0.0.1:PORT:

      <Location /svn>  DAV svn, SVNParentPath DATA/svn   (Subversion)
      <Location /svnv1>  the same, SVNAdvertiseV2Protocol Off
      <Location /dav>  DAV On, DavLockDB DATA/lock/      (WebDAV class 1+2)

  Its config, pid file, error log and access log live in the test's own
  directory.  The trees the child processes read and write (repositories,
  DAV documents, the lock database, mutexes) live in `data`: the test's
  directory too, unless the tests run as root.  Apache refuses to serve as
  root (its children switch to `User`, httpd.conf(5) "User"), and pytest's
  base directory is private to its owner (mode 0700), so as root the data
  tree is a directory of its own under the system temp directory, owned by
  www-data (or nobody), and removed by stop().

- EchoServer: a WebSocket echo server (RFC 6455) on the python3-websockets
  library, in an asyncio loop on a thread of its own.

- WsClient: a client for RFC 6455 written out by hand, so that the opening
  handshake can be sent to a forward proxy in absolute-form (RFC 9112
  section 3.2.2), as a plain-http proxy user does, instead of through a
  CONNECT tunnel.
"""

import asyncio
import base64
import hashlib
import os
import pwd
import grp
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["Apache", "apache_binary", "apache_modules_dir", "EchoServer",
           "WsClient", "WsError", "ws_accept"]

MODULE_DIRS = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules",
               "/usr/lib/httpd/modules")


def apache_binary():
    for name in ("apache2", "httpd"):
        for d in (None, "/usr/sbin", "/usr/local/sbin"):
            p = shutil.which(name) if d is None else os.path.join(d, name)
            if p and os.access(p, os.X_OK):
                return p
    return None


def apache_modules_dir(*needed):
    """The directory holding every module file in `needed`, or None."""
    for d in MODULE_DIRS:
        if all(os.path.exists(os.path.join(d, m)) for m in needed):
            return d
    return None


def _free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _run_user():
    """(user, group, uid, gid) Apache's children run as when started by root."""
    for name in ("www-data", "apache", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        try:
            gname = grp.getgrgid(pw.pw_gid).gr_name
        except KeyError:
            gname = "#%d" % pw.pw_gid
        return name, gname, pw.pw_uid, pw.pw_gid
    raise RuntimeError("no unprivileged user (www-data, apache, nobody) "
                       "for Apache's children")


class ApacheError(AssertionError):
    pass


class Apache:
    """One private httpd.  start() / stop(); mkrepo(), mkdav()."""

    MODULES = ("mod_mpm_event.so", "mod_authz_core.so", "mod_dav.so",
               "mod_dav_fs.so", "mod_dav_svn.so")

    def __init__(self, workdir):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.binary = apache_binary()
        self.modules = apache_modules_dir(*self.MODULES)
        self.root = os.geteuid() == 0
        if self.root:
            self.user, self.group, self.uid, self.gid = _run_user()
            self.data = Path(tempfile.mkdtemp(prefix="retryproxy-dav-"))
        else:
            self.user = self.group = None
            self.uid, self.gid = os.geteuid(), os.getegid()
            self.data = self.dir / "data"
        for sub in ("svn", "htdocs/dav", "lock", "run"):
            (self.data / sub).mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "httpd.conf"
        self.error_log = self.dir / "error.log"
        self.access_log_path = self.dir / "access.log"
        self.pidfile = self.dir / "httpd.pid"
        self.proc = None
        self.port = None

    # ---- content --------------------------------------------------------
    def _own(self, top):
        """Hand a tree to the user Apache's children run as."""
        if not self.root:
            return
        os.chown(top, self.uid, self.gid)
        for d, dirs, files in os.walk(top):
            for n in dirs + files:
                os.lchown(os.path.join(d, n), self.uid, self.gid)

    def mkrepo(self, name, location="svn"):
        """svnadmin create DATA/svn/NAME; its URL under /svn (or /svnv1)."""
        path = self.data / "svn" / name
        subprocess.run(["svnadmin", "create", str(path)], check=True,
                       capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
        self._own(path)
        return f"{self.url}/{location}/{name}"

    def mkdav(self, name):
        """An empty collection /dav/NAME/; its URL (with the slash)."""
        path = self.data / "htdocs" / "dav" / name
        path.mkdir(parents=True, exist_ok=True)
        self._own(path)
        return f"{self.url}/dav/{name}/"

    # ---- config ---------------------------------------------------------
    def config_text(self, port):
        m = self.modules
        d = self.data
        user = ""
        if self.root:
            user = f"User {self.user}\nGroup {self.group}\n"
        return f"""\
ServerRoot "{self.dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{self.pidfile}"
ErrorLog "{self.error_log}"
LogLevel warn
DefaultRuntimeDir "{d}/run"
Mutex file:{d}/run default
{user}
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule dav_module {m}/mod_dav.so
LoadModule dav_fs_module {m}/mod_dav_fs.so
LoadModule dav_svn_module {m}/mod_dav_svn.so

StartServers 1
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
Timeout 30
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 15

LogFormat "%>s %r" rp
CustomLog "{self.access_log_path}" rp

DocumentRoot "{d}/htdocs"
<Directory />
    Require all granted
    AllowOverride None
</Directory>

DavLockDB "{d}/lock/DAVLock"
<Location /dav>
    DAV On
</Location>

<Location /svn>
    DAV svn
    SVNParentPath "{d}/svn"
    SVNPathAuthz off
</Location>

# The same repositories over Subversion's older HTTP protocol (v1: DeltaV
# activities, MKACTIVITY, CHECKOUT, MERGE; mod_dav_svn's
# SVNAdvertiseV2Protocol Off).
<Location /svnv1>
    DAV svn
    SVNParentPath "{d}/svn"
    SVNPathAuthz off
    SVNAdvertiseV2Protocol Off
</Location>
"""

    # ---- life cycle -----------------------------------------------------
    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout=10.0):
        self._own(self.data)
        last = ""
        for _ in range(3):
            self.port = _free_port()
            self.conf.write_text(self.config_text(self.port))
            out = open(self.dir / "stdout.log", "wb")
            try:
                self.proc = subprocess.Popen(
                    [self.binary, "-f", str(self.conf), "-DFOREGROUND"],
                    stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, cwd=str(self.dir),
                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                         "LANG": "C"},
                    start_new_session=True)
            finally:
                out.close()
            state = self._wait_ready(ready_timeout)
            if state == "ready":
                return self
            last = self.log_tail()
            if "Address already in use" in last:
                continue
            self.stop()
            raise ApacheError(f"apache: {state}\n{last}")
        self.stop()
        raise ApacheError("apache could not bind on 3 ports\n" + last)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                return f"exited with code {rc} during start"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return "ready"
            except OSError:
                pass
            if time.monotonic() > deadline:
                return f"not accepting on 127.0.0.1:{self.port} after {timeout}s"
            time.sleep(0.02)

    def stop(self, timeout=10.0):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # httpd: stop now
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(5)
        if self.root and self.data.exists():
            shutil.rmtree(self.data, ignore_errors=True)

    # ---- observation ----------------------------------------------------
    def log_tail(self, n=40):
        out = []
        for p in (self.dir / "stdout.log", self.error_log):
            try:
                out += p.read_text(errors="replace").splitlines()[-n:]
            except OSError:
                pass
        return "\n".join(out)

    def access_log(self):
        """[(method, status, request-target as sent)] for every request
        Apache logged (LogFormat "%>s %r": the status, the request line)."""
        try:
            text = self.access_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            status, _, reqline = line.partition(" ")
            method, _, rest = reqline.partition(" ")
            target = rest.rsplit(" ", 1)[0] if " " in rest else rest
            out.append((method, int(status), target))
        return out


# ---- WebSocket ---------------------------------------------------------------

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"   # RFC 6455 section 1.3


def ws_accept(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


class EchoServer:
    """python3-websockets echo server on 127.0.0.1:port (path any).

    Every message received is sent back, text as text and binary as binary.
    `handshakes` holds (path, headers as a list of pairs) of each accepted
    opening handshake; `closed` is set once a handler has ended."""

    def __init__(self):
        import websockets  # python3-websockets
        self._ws = websockets
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever,
                                       name="ws-echo", daemon=True)
        self.server = None
        self.port = None
        self.handshakes = []
        self.messages = []
        self.closed = threading.Event()
        self.errors = []

    async def _echo(self, ws, *_legacy_path):
        req = getattr(ws, "request", None)
        if req is not None:         # websockets >= 13 (new implementation)
            path, headers = req.path, list(req.headers.raw_items())
        else:                       # websockets 10 (Debian 12)
            path, headers = ws.path, list(ws.request_headers.raw_items())
        self.handshakes.append((path, headers))
        try:
            async for msg in ws:
                self.messages.append(msg)
                await ws.send(msg)
        except Exception as e:  # noqa: BLE001 -- reported by the test
            if not isinstance(e, self._ws.exceptions.ConnectionClosed):
                self.errors.append(repr(e))
        finally:
            self.closed.set()

    async def _start(self):
        self.server = await self._ws.serve(self._echo, "127.0.0.1", 0,
                                           ping_interval=None,
                                           max_size=4 * 1024 * 1024)
        return self.server.sockets[0].getsockname()[1]

    async def _stop(self):
        self.server.close()
        await self.server.wait_closed()

    def start(self, timeout=5.0):
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self.port = fut.result(timeout)
        return self

    def stop(self, timeout=5.0):
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.loop.close()

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self):
        return f"http://127.0.0.1:{self.port}"


class WsError(AssertionError):
    pass


OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class WsClient:
    """An RFC 6455 client on a plain socket to a forward proxy.

    handshake() sends the opening handshake as an absolute-form GET
    (`GET http://host:port/path HTTP/1.1`) and checks the 101 (RFC 6455
    section 4.1: status 101, Upgrade: websocket, Connection: Upgrade, and
    Sec-WebSocket-Accept for our key).  Frames sent are masked, frames
    received must not be (section 5.1)."""

    def __init__(self, proxy_addr, timeout=10.0):
        self.sock = socket.create_connection(proxy_addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.status = None
        self.head = b""
        self.headers = []

    def _fill(self):
        data = self.sock.recv(262144)   # the socket timeout is the deadline
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def header(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def handshake(self, url, extra_headers=()):
        """Send the upgrade request for `url` (http://host:port/path); return
        the response status; raise WsError when a 101 is not a valid one."""
        from urllib.parse import urlsplit
        key = base64.b64encode(os.urandom(16)).decode()
        host = urlsplit(url).netloc
        lines = [f"GET {url} HTTP/1.1", f"Host: {host}",
                 "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                 "User-Agent: retryproxy-itest-ws"]
        lines += [f"{k}: {v}" for k, v in extra_headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n\r\n")
        self.head = bytes(self.buf[:i])
        del self.buf[:i + 4]
        first, *rest = self.head.decode("latin-1").split("\r\n")
        self.status = int(first.split(" ")[1])
        self.headers = [(k.strip(), v.strip()) for k, _, v in
                        (line.partition(":") for line in rest)]
        if self.status != 101:
            return self.status
        up = ",".join(self.header("Upgrade")).lower()
        conn = [t.strip().lower() for v in self.header("Connection")
                for t in v.split(",")]
        acc = self.header("Sec-WebSocket-Accept")
        if "websocket" not in up or "upgrade" not in conn or acc != [ws_accept(key)]:
            raise WsError(f"invalid 101 for key {key!r}: {self.head!r}")
        return self.status

    def send_frame(self, opcode, payload, fin=True):
        n = len(payload)
        b0 = (0x80 if fin else 0) | opcode
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, n)
        mask = os.urandom(4)
        m = (mask * (n // 4 + 1))[:n]
        body = (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big") \
            if n else b""
        self.sock.sendall(head + mask + body)

    def _need(self, n):
        while len(self.buf) < n:
            self._fill()

    def recv_frame(self):
        """(fin, opcode, payload) of the next frame."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise WsError("server frame is masked (RFC 6455 section 5.1)")
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload = bytes(self.buf[off:off + n])
        del self.buf[:off + n]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_message(self):
        """(opcode, payload) of the next data message (fragments joined)."""
        op, parts = None, []
        while True:
            fin, opcode, payload = self.recv_frame()
            if opcode in (OP_PING, OP_PONG):
                if opcode == OP_PING:
                    self.send_frame(OP_PONG, payload)
                continue
            if opcode == OP_CLOSE:
                raise WsError(f"close frame while a message was awaited: {payload!r}")
            if op is None:
                op = opcode
            parts.append(payload)
            if fin:
                return op, b"".join(parts)

    def close_handshake(self, code=1000):
        """Send a close frame; return the peer's close code and whether it
        then closed the TCP connection (RFC 6455 section 5.5.1, 7.1.1)."""
        self.send_frame(OP_CLOSE, struct.pack("!H", code))
        while True:
            _, opcode, payload = self.recv_frame()
            if opcode == OP_CLOSE:
                break
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        try:
            while True:
                self._fill()
        except EOFError:
            eof = True
        except ConnectionResetError:
            eof = True
        except socket.timeout:
            eof = False
        return got, eof

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
