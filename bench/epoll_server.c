/* epoll_server: the hand-written reference for scripts/bench.sh.
 *
 * A single-threaded, non-blocking epoll server with no dependencies, doing the least a
 * tuple-reporting server can do, so that demo-server's figures have a floor to be compared
 * with. Two listening sockets on 127.0.0.1 (or --bind ADDRESS):
 *
 *   raw   reads the client's first line (up to '\n', EOF or 512 bytes), answers
 *         "local A:P -> remote B:P\n" from getsockname/getpeername, shuts down its sending
 *         side and closes.
 *   http  answers GET (and HEAD) with 200 and the same line as body; keep-alive is the
 *         HTTP/1.1 default, "Connection: close" (or HTTP/1.0 without keep-alive) closes after
 *         the answer. Other methods get 405, a head it cannot parse 400, a head over 8 KiB 431.
 *
 * Usage: epoll_server [--bind ADDRESS] [--raw-port N] [--http-port N]   (0: the kernel chooses)
 * Prints one line when both listen, then nothing more:
 *   {"event":"ready","raw_port":P,"http_port":Q}
 *
 * What it leaves out on purpose, compared with demo-server: no timers (a silent client is
 * held until it closes), no logging, no TLS, no sniffing of the first bytes (each port has one
 * protocol). Listeners are level-triggered and drained with accept4 in a loop; connections are
 * level-triggered, one read per readiness, so a request costs epoll_wait + read + write.
 * Per idle connection it holds one small struct with the tuple line, formatted once at accept
 * (it never changes); a partial request head or an unsent answer gets a heap buffer only
 * while it exists. Nothing is formatted with printf on the request path.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum kind { LISTEN_RAW, LISTEN_HTTP, CONN_RAW, CONN_HTTP };

enum { HEAD_LIMIT = 8192, RAW_LINE_LIMIT = 512, MAX_EVENTS = 256 };

typedef union {
  struct sockaddr sa;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
} address;

struct conn {
  int fd;
  unsigned char kind;
  unsigned char closing;   /* close once the pending output is sent */
  unsigned short in_len;   /* bytes in `in` (partial head or raw line) */
  unsigned int out_len, out_off;
  unsigned char body_len;  /* http: length of `body` */
  char *in;                /* heap, only while a head or line is incomplete */
  char *out;               /* heap, only while an answer is partly unsent */
  char body[];             /* http: the tuple line, formatted once at accept (it never changes) */
};

static int epfd;
static struct conn listeners[2];
static int accept_paused; /* out of descriptors: listeners off for 100 ms */

static void die(const char *step) {
  fprintf(stderr, "epoll_server: %s: %s\n", step, strerror(errno));
  exit(70);
}

static char *put(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}

static char *put_uint(char *p, unsigned v) {
  char digits[10];
  int n = 0;
  do digits[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
  while (n) *p++ = digits[--n];
  return p;
}

/* "127.0.0.1:8080" or "[::1]:8080", without snprintf: this runs once per connection. */
static char *put_endpoint(char *p, const address *a) {
  if (a->sa.sa_family == AF_INET6) {
    char host[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a->v6.sin6_addr, host, sizeof host);
    *p++ = '[';
    p = put(p, host, strlen(host));
    *p++ = ']';
    *p++ = ':';
    return put_uint(p, ntohs(a->v6.sin6_port));
  }
  const unsigned char *b = (const unsigned char *)&a->v4.sin_addr;
  for (int i = 0; i < 4; ++i) {
    p = put_uint(p, b[i]);
    *p++ = i < 3 ? '.' : ':';
  }
  return put_uint(p, ntohs(a->v4.sin_port));
}

enum { TUPLE_MAX = 128 }; /* two bracketed IPv6 endpoints and the words fit */

/* "local A:P -> remote B:P\n" into buf (TUPLE_MAX bytes); returns its length. */
static int tuple_line(char *buf, const address *local, const address *remote) {
  char *p = put(buf, "local ", 6);
  p = put_endpoint(p, local);
  p = put(p, " -> remote ", 11);
  p = put_endpoint(p, remote);
  *p++ = '\n';
  return (int)(p - buf);
}

static void conn_close(struct conn *c) {
  close(c->fd); /* also removes it from the epoll set */
  free(c->in);
  free(c->out);
  free(c);
}

/* Writes what it can; keeps the rest and waits for EPOLLOUT. Returns 0, or -1 when closed. */
static int send_or_queue(struct conn *c, const char *data, size_t len) {
  ssize_t n = 0;
  if (!c->out) {
    n = write(c->fd, data, len);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_close(c);
        return -1;
      }
      n = 0;
    }
    if ((size_t)n == len) return 0;
  }
  /* Short write: keep the remainder (appended to anything already queued). */
  size_t rest = len - (size_t)n;
  char *grown = realloc(c->out, c->out_len + rest);
  if (!grown) {
    conn_close(c);
    return -1;
  }
  memcpy(grown + c->out_len, data + n, rest);
  c->out = grown;
  c->out_len += (unsigned int)rest;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  return 0;
}

static void finish(struct conn *c) {
  if (c->out) {
    c->closing = 1; /* after the queued answer; read nothing more meanwhile */
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    return;
  }
  shutdown(c->fd, SHUT_WR);
  conn_close(c);
}

static void on_writable(struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      conn_close(c);
      return;
    }
    c->out_off += (unsigned int)n;
  }
  free(c->out);
  c->out = NULL;
  c->out_len = c->out_off = 0;
  if (c->closing) {
    shutdown(c->fd, SHUT_WR);
    conn_close(c);
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Stashes unprocessed bytes (a partial line or head) until the next read. */
static int keep_partial(struct conn *c, const char *data, size_t len) {
  if (len == 0) {
    free(c->in);
    c->in = NULL;
    c->in_len = 0;
    return 0;
  }
  if (!c->in) {
    c->in = malloc(HEAD_LIMIT);
    if (!c->in) return -1;
  }
  memmove(c->in, data, len);
  c->in_len = (unsigned short)len;
  return 0;
}

static void on_raw_readable(struct conn *c) {
  char buf[RAW_LINE_LIMIT];
  size_t have = c->in_len;
  if (have) memcpy(buf, c->in, have);
  ssize_t n = read(c->fd, buf + have, sizeof buf - have);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    conn_close(c);
    return;
  }
  have += (size_t)n;
  if (n > 0 && have < sizeof buf && !memchr(buf, '\n', have)) {
    if (keep_partial(c, buf, have) < 0) conn_close(c);
    return;
  }
  /* A whole line, EOF, or the limit: answer with the four facts, read from the kernel. */
  address local, remote;
  socklen_t ll = sizeof local, rl = sizeof remote;
  if (getsockname(c->fd, &local.sa, &ll) < 0 || getpeername(c->fd, &remote.sa, &rl) < 0) {
    conn_close(c);
    return;
  }
  char line[TUPLE_MAX];
  int len = tuple_line(line, &local, &remote);
  free(c->in);
  c->in = NULL;
  c->in_len = 0;
  if (send_or_queue(c, line, (size_t)len) < 0) return;
  finish(c);
}

static const char *find_head_end(const char *p, size_t len) {
  for (size_t i = 0; i + 3 < len; ++i)
    if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') return p + i + 4;
  return NULL;
}

/* The value of header `name` (case-insensitive) in the head [head, end), without leading
 * blanks, ending at its '\r'; NULL when the header is absent. */
static const char *header_value(const char *head, const char *end, const char *name, const char **value_end) {
  size_t nl = strlen(name);
  const char *line = memchr(head, '\n', (size_t)(end - head));
  while (line && line + 1 < end) {
    line++;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol) break;
    if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
      const char *v = line + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) ++v;
      *value_end = eol > v && eol[-1] == '\r' ? eol - 1 : eol;
      return v;
    }
    line = eol;
  }
  return NULL;
}

/* Whether the header `name` is present and its value contains `token` (case-insensitive). */
static int header_has(const char *head, const char *end, const char *name, const char *token) {
  const char *vend;
  const char *v = header_value(head, end, name, &vend);
  size_t tl = strlen(token);
  for (; v && v + tl <= vend; ++v)
    if (strncasecmp(v, token, tl) == 0) return 1;
  return 0;
}

/* Answers one complete request head [head, end). Returns 1 to keep the connection, 0 to close
 * after the answer, -1 when the connection is already gone. */
static int answer_http(struct conn *c, const char *head, const char *end) {
  const char *eol = memchr(head, '\r', (size_t)(end - head)); /* found: the head ends in \r\n\r\n */
  const char *sp1 = memchr(head, ' ', (size_t)(eol - head));
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
  int status = 200, keep = 1, head_only = 0;
  if (!sp1 || !sp2 || eol - sp2 - 1 != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
    status = 400;
    keep = 0;
  } else {
    int http10 = sp2[8] == '0';
    if (http10)
      keep = header_has(head, end, "Connection", "keep-alive");
    else
      keep = !header_has(head, end, "Connection", "close");
    size_t mlen = (size_t)(sp1 - head);
    if (mlen == 4 && memcmp(head, "HEAD", 4) == 0)
      head_only = 1;
    else if (!(mlen == 3 && memcmp(head, "GET", 3) == 0))
      status = 405;
    /* A body this server would not read: answer, then close. */
    const char *vend;
    const char *length = header_value(head, end, "Content-Length", &vend);
    if ((length && !(vend - length == 1 && *length == '0')) || header_has(head, end, "Transfer-Encoding", ""))
      keep = 0;
  }
  const char *body = c->body;
  size_t blen = c->body_len;
  if (status != 200) {
    body = status == 400 ? "bad request\n" : "method not allowed\n";
    blen = strlen(body);
  }
  static const char ok[] = "HTTP/1.1 200 OK\r\n", bad[] = "HTTP/1.1 400 Bad Request\r\n",
                    not_allowed[] = "HTTP/1.1 405 Method Not Allowed\r\n",
                    type[] = "Content-Type: text/plain\r\nContent-Length: ", close_it[] = "\r\nConnection: close";
  char out[512];
  char *p = status == 200 ? put(out, ok, sizeof ok - 1)
            : status == 400 ? put(out, bad, sizeof bad - 1)
                            : put(out, not_allowed, sizeof not_allowed - 1);
  p = put(p, type, sizeof type - 1);
  p = put_uint(p, (unsigned)blen);
  if (!keep) p = put(p, close_it, sizeof close_it - 1);
  p = put(p, "\r\n\r\n", 4);
  if (!head_only) p = put(p, body, blen);
  size_t len = (size_t)(p - out);
  if (send_or_queue(c, out, len) < 0) return -1;
  return keep;
}

static void on_http_readable(struct conn *c) {
  if (c->closing) return; /* answered with close: only the queued bytes still go out */
  char buf[HEAD_LIMIT];
  size_t have = c->in_len;
  if (have) memcpy(buf, c->in, have);
  ssize_t n = read(c->fd, buf + have, sizeof buf - have);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    conn_close(c); /* EOF between requests, or an error */
    return;
  }
  have += (size_t)n;
  const char *p = buf, *limit = buf + have, *end;
  while ((end = find_head_end(p, (size_t)(limit - p))) != NULL) {  /* pipelined requests too */
    int keep = answer_http(c, p, end);
    if (keep < 0) return;
    if (!keep) {
      finish(c);
      return;
    }
    p = end;
  }
  if ((size_t)(limit - p) >= HEAD_LIMIT) {
    static const char too_big[] =
        "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (send_or_queue(c, too_big, sizeof too_big - 1) < 0) return;
    finish(c);
    return;
  }
  if (keep_partial(c, p, (size_t)(limit - p)) < 0) conn_close(c);
}

static void listeners_enable(int on) {
  for (int i = 0; i < 2; ++i) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listeners[i]};
    epoll_ctl(epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listeners[i].fd, &ev);
  }
}

static void on_accept(struct conn *l) {
  for (;;) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* The pending connection stays queued: pause instead of spinning on it. */
        listeners_enable(0);
        accept_paused = 1;
      }
      return; /* EAGAIN: drained; ECONNABORTED and the like concern one client */
    }
    /* HTTP: the four facts are read once and kept as the answer's body, sized to fit. */
    char body[TUPLE_MAX];
    int blen = 0;
    if (l->kind == LISTEN_HTTP) {
      address local, remote;
      socklen_t ll = sizeof local, rl = sizeof remote;
      if (getsockname(fd, &local.sa, &ll) < 0 || getpeername(fd, &remote.sa, &rl) < 0) {
        close(fd); /* the client is already gone */
        continue;
      }
      blen = tuple_line(body, &local, &remote);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    struct conn *c = calloc(1, sizeof *c + (size_t)blen);
    if (!c) {
      close(fd);
      continue;
    }
    c->fd = fd;
    c->kind = l->kind == LISTEN_RAW ? CONN_RAW : CONN_HTTP;
    c->body_len = (unsigned char)blen;
    memcpy(c->body, body, (size_t)blen);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) conn_close(c);
  }
}

static int open_listener(const char *bind_to, unsigned short port, enum kind kind) {
  address a;
  memset(&a, 0, sizeof a);
  socklen_t alen;
  if (inet_pton(AF_INET6, bind_to, &a.v6.sin6_addr) == 1) {
    a.v6.sin6_family = AF_INET6;
    a.v6.sin6_port = htons(port);
    alen = sizeof a.v6;
  } else if (inet_pton(AF_INET, bind_to, &a.v4.sin_addr) == 1) {
    a.v4.sin_family = AF_INET;
    a.v4.sin_port = htons(port);
    alen = sizeof a.v4;
  } else {
    fprintf(stderr, "epoll_server: not an address: %s\n", bind_to);
    exit(64);
  }
  int fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) die("setsockopt");
  if (bind(fd, &a.sa, alen) < 0) die("bind");
  if (listen(fd, SOMAXCONN) < 0) die("listen");
  listeners[kind].fd = fd;
  listeners[kind].kind = (unsigned char)kind;
  alen = sizeof a;
  if (getsockname(fd, &a.sa, &alen) < 0) die("getsockname");
  return ntohs(a.sa.sa_family == AF_INET6 ? a.v6.sin6_port : a.v4.sin_port);
}

static unsigned short port_arg(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < 0 || v > 65535) {
    fprintf(stderr, "epoll_server: not a port: %s\n", s);
    exit(64);
  }
  return (unsigned short)v;
}

int main(int argc, char **argv) {
  const char *bind_to = "127.0.0.1";
  unsigned short raw_port = 0, http_port = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc)
      bind_to = argv[++i];
    else if (strcmp(argv[i], "--raw-port") == 0 && i + 1 < argc)
      raw_port = port_arg(argv[++i]);
    else if (strcmp(argv[i], "--http-port") == 0 && i + 1 < argc)
      http_port = port_arg(argv[++i]);
    else {
      fprintf(stderr, "usage: epoll_server [--bind ADDRESS] [--raw-port N] [--http-port N]\n");
      return 64;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  int raw = open_listener(bind_to, raw_port, LISTEN_RAW);
  int http = open_listener(bind_to, http_port, LISTEN_HTTP);
  listeners_enable(1);
  printf("{\"event\":\"ready\",\"raw_port\":%d,\"http_port\":%d}\n", raw, http);
  fflush(stdout);

  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(epfd, events, MAX_EVENTS, accept_paused ? 100 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    if (n == 0 && accept_paused) {
      accept_paused = 0;
      listeners_enable(1);
      continue;
    }
    for (int i = 0; i < n; ++i) {
      struct conn *c = events[i].data.ptr;
      switch (c->kind) {
        case LISTEN_RAW:
        case LISTEN_HTTP: on_accept(c); break;
        case CONN_RAW:
        case CONN_HTTP:
          if (events[i].events & EPOLLOUT) {
            on_writable(c);
            break; /* c may be gone; a pending EPOLLIN comes back (level-triggered) */
          }
          if (c->kind == CONN_RAW)
            on_raw_readable(c);
          else
            on_http_readable(c);
          break;
      }
    }
  }
}
