/* raw_load: the raw-TCP load generator of scripts/bench.sh.
 *
 * The workload: a new connection per report, C connections in flight at once (default 32);
 * each connects, sends one line, reads the answer to EOF and closes. Single-threaded epoll,
 * no dependencies. Bounded twice: it starts no new connection after --duration seconds or
 * after --count connections, whichever comes first, and gives the ones in flight at most
 * --grace seconds more before it abandons them (counted as errors).
 *
 * Usage: raw_load [--concurrency C] [--duration S] [--count N] [--grace S]
 *                 [--line TEXT] ADDRESS PORT
 *   ADDRESS must be a loopback address (127.0.0.0/8 or ::1): this is a load generator for
 *   one machine, and it refuses anything else.
 *   --line: what each connection sends first (default "portdemo-hello 1", which demo-server
 *   answers with one JSON line); a newline is appended.
 *
 * Prints one JSON line:
 *   {"completed":N,"errors":E,"seconds":T,"per_second":R,"bytes_received":B,
 *    "min_answer":A,"max_answer":Z}
 * A connection counts as completed when it got a non-empty answer and then EOF; a refused or
 * reset connection, an empty answer, or one still open at the end counts as an error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct slot {
  int fd;
  int connected; /* the line is sent; now reading to EOF */
  size_t received;
};

static int epfd;
static union {
  struct sockaddr sa;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
} target;
static socklen_t target_len;
static char line[1024];
static size_t line_len;
static uint64_t started, completed, errors, bytes_received;
static size_t min_answer = SIZE_MAX, max_answer;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void) {
  fprintf(stderr,
          "usage: raw_load [--concurrency C] [--duration S] [--count N] [--grace S] [--line TEXT] ADDRESS PORT\n");
  exit(64);
}

static double number_arg(const char *s, double low, double high) {
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || !(v >= low && v <= high)) {
    fprintf(stderr, "raw_load: %s is out of range (%g-%g)\n", s, low, high);
    exit(64);
  }
  return v;
}

/* Starts one connection in `s`; returns 0, or -1 when the socket could not even be made. */
static int start(struct slot *s) {
  s->fd = socket(target.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) return -1;
  s->connected = 0;
  s->received = 0;
  ++started;
  if (connect(s->fd, &target.sa, target_len) < 0 && errno != EINPROGRESS) {
    close(s->fd);
    s->fd = -1;
    ++errors;
    return 0;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
  epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
  return 0;
}

static void finish(struct slot *s, int ok) {
  close(s->fd);
  s->fd = -1;
  if (ok && s->received > 0) {
    ++completed;
    if (s->received < min_answer) min_answer = s->received;
    if (s->received > max_answer) max_answer = s->received;
  } else {
    ++errors;
  }
}

static void on_event(struct slot *s, uint32_t events) {
  if (!s->connected) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err || (events & EPOLLERR)) {
      finish(s, 0);
      return;
    }
    /* The line is tiny: one write fits any fresh socket's send buffer. */
    if (write(s->fd, line, line_len) != (ssize_t)line_len) {
      finish(s, 0);
      return;
    }
    s->connected = 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
    return;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(s->fd, buf, sizeof buf);
    if (n > 0) {
      s->received += (size_t)n;
      bytes_received += (uint64_t)n;
      continue;
    }
    if (n == 0) {
      finish(s, 1);
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    finish(s, 0);
    return;
  }
}

int main(int argc, char **argv) {
  int concurrency = 32;
  double duration = 5, grace = 5;
  uint64_t count = UINT64_MAX;
  const char *text = "portdemo-hello 1";
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; ++i) {
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "--concurrency") == 0)
      concurrency = (int)number_arg(argv[++i], 1, 1000);
    else if (strcmp(argv[i], "--duration") == 0)
      duration = number_arg(argv[++i], 0.1, 3600);
    else if (strcmp(argv[i], "--count") == 0)
      count = (uint64_t)number_arg(argv[++i], 1, 1e9);
    else if (strcmp(argv[i], "--grace") == 0)
      grace = number_arg(argv[++i], 0, 60);
    else if (strcmp(argv[i], "--line") == 0)
      text = argv[++i];
    else
      usage();
  }
  if (argc - i != 2) usage();
  const char *address = argv[i];
  uint16_t port = (uint16_t)number_arg(argv[i + 1], 1, 65535);

  memset(&target, 0, sizeof target);
  if (inet_pton(AF_INET, address, &target.v4.sin_addr) == 1) {
    if ((ntohl(target.v4.sin_addr.s_addr) >> 24) != 127) {
      fprintf(stderr, "raw_load: %s is not a loopback address; refusing to load another machine\n", address);
      return 64;
    }
    target.v4.sin_family = AF_INET;
    target.v4.sin_port = htons(port);
    target_len = sizeof target.v4;
  } else if (inet_pton(AF_INET6, address, &target.v6.sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&target.v6.sin6_addr)) {
      fprintf(stderr, "raw_load: %s is not a loopback address; refusing to load another machine\n", address);
      return 64;
    }
    target.v6.sin6_family = AF_INET6;
    target.v6.sin6_port = htons(port);
    target_len = sizeof target.v6;
  } else {
    fprintf(stderr, "raw_load: not an IP address: %s\n", address);
    return 64;
  }
  line_len = (size_t)snprintf(line, sizeof line, "%s\n", text);
  if (line_len >= sizeof line) {
    fprintf(stderr, "raw_load: --line is too long\n");
    return 64;
  }
  signal(SIGPIPE, SIG_IGN);

  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct slot *slots = calloc((size_t)concurrency, sizeof *slots);
  if (epfd < 0 || !slots) {
    perror("raw_load");
    return 70;
  }
  const double t0 = now();
  const double stop_starting = t0 + duration;
  int in_flight = 0;
  for (int k = 0; k < concurrency; ++k) {
    slots[k].fd = -1;
    if (started < count && start(&slots[k]) < 0) {
      perror("raw_load: socket");
      return 70;
    }
  }
  struct epoll_event events[256];
  double t = t0;
  for (;;) {
    in_flight = 0;
    for (int k = 0; k < concurrency; ++k) in_flight += slots[k].fd >= 0;
    const int starting = t < stop_starting && started < count;
    if (!starting && in_flight == 0) break;
    if (!starting && t > stop_starting + grace) break;
    int n = epoll_wait(epfd, events, 256, 100);
    if (n < 0 && errno != EINTR) {
      perror("raw_load: epoll_wait");
      return 70;
    }
    for (int k = 0; k < n; ++k) on_event(events[k].data.ptr, events[k].events);
    t = now();
    /* Refill the finished slots, within both bounds. */
    for (int k = 0; k < concurrency; ++k) {
      if (slots[k].fd < 0 && t < stop_starting && started < count) {
        if (start(&slots[k]) < 0) {
          perror("raw_load: socket");
          return 70;
        }
      }
    }
  }
  const double elapsed = now() - t0;
  for (int k = 0; k < concurrency; ++k)
    if (slots[k].fd >= 0) finish(&slots[k], 0); /* still open after the grace period */
  printf("{\"completed\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"per_second\":%.1f,\"bytes_received\":%llu,"
         "\"min_answer\":%zu,\"max_answer\":%zu}\n",
         (unsigned long long)completed, (unsigned long long)errors, elapsed, (double)completed / elapsed,
         (unsigned long long)bytes_received, completed ? min_answer : 0, max_answer);
  return 0;
}
